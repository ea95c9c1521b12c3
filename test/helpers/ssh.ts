// End-to-end SSH fixture: a temp data dir, the SSH door on an ephemeral loopback port, real key
// files made by ssh-keygen, and the real OpenSSH client. Every wait is bounded.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createUser } from '../../src/auth/accounts.js'
import type { Config } from '../../src/services.js'
import { startSshServer, type SshDoor } from '../../src/ssh/server.js'
import type { User } from '../../src/store/index.js'
import { makeApp, type TestApp } from './app.js'

export type KeyType = 'ed25519' | 'ecdsa' | 'rsa'

export interface KeyFiles {
  /** Private key path (for ssh -i). */
  path: string
  pub: string
  publicKey: string
  fingerprint: string
}

export interface SshResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface SshOptions {
  /** SSH username; default "boxd". */
  user?: string
  input?: string
  /** Extra ssh arguments before the destination (e.g. ['-T'], ['-o', 'X=Y']). */
  args?: string[]
  timeoutMs?: number
}

let keySeq = 0

/** A fresh key pair made by the real ssh-keygen. */
export function makeKey(dir: string, type: KeyType = 'ed25519', comment = `${type}-key`): KeyFiles {
  const keyDir = join(dir, 'keys')
  mkdirSync(keyDir, { recursive: true })
  const path = join(keyDir, `id_${type}_${++keySeq}`)
  const bits = type === 'rsa' ? ['-b', '2048'] : type === 'ecdsa' ? ['-b', '256'] : []
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', comment, '-f', path])
  const publicKey = readFileSync(`${path}.pub`, 'utf8').trim()
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' }).split(' ')[1]
  return { path, pub: `${path}.pub`, publicKey, fingerprint }
}

/** The client options every test uses: no host key prompts, only the given key, never a password. */
export function sshArgs(port: number, key: string, extra: string[] = []): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=10', '-i', key, '-p', String(port), ...extra,
  ]
}

/** Run the real `ssh` client; resolves when it exits (killed after timeoutMs). */
export function runSsh(port: number, key: string, command: string[], o: SshOptions = {}): Promise<SshResult> {
  const args = [...sshArgs(port, key, o.args), `${o.user ?? 'boxd'}@127.0.0.1`, ...command]
  return new Promise((resolveP, reject) => {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`ssh ${command.join(' ')} timed out after ${o.timeoutMs ?? 15_000} ms; stderr: ${stderr}`))
    }, o.timeoutMs ?? 15_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolveP({ code, stdout, stderr })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(o.input ?? '')
  })
}

export interface SshFixture {
  app: TestApp
  door: SshDoor
  port: number
  dir: string
  /** A registered user with a fresh key of the given type. */
  user(email: string, o?: { role?: 'admin' | 'user'; type?: KeyType }): { user: User; key: KeyFiles }
  key(type?: KeyType): KeyFiles
  ssh(key: KeyFiles, command: string[] | string, o?: SshOptions): Promise<SshResult>
  close(): Promise<void>
}

export async function startSshFixture(o: { config?: Partial<Config> } = {}): Promise<SshFixture> {
  // Rate limits are the limiter's tests' business; here they would only make a busy file flaky.
  const app = makeApp({ config: { sshPort: 0, listen: '127.0.0.1', rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 }, ...o.config } })
  let door: SshDoor
  try {
    door = await startSshServer(app)
  } catch (e) {
    app.cleanup()
    throw e
  }
  const fx: SshFixture = {
    app, door, port: door.port, dir: app.dir,
    key: (type = 'ed25519') => makeKey(app.dir, type),
    user(email, u = {}) {
      const key = makeKey(app.dir, u.type ?? 'ed25519', email)
      const user = createUser(app.services.store, app.services.clock, { email, role: u.role ?? 'user', keyText: key.publicKey })
      return { user, key }
    },
    ssh: (key, command, so) => runSsh(door.port, key.path, typeof command === 'string' ? [command] : command, so),
    async close() {
      await door.close()
      app.cleanup()
    },
  }
  return fx
}

/** Poll until fn() is truthy or the deadline passes (then throws with `what`). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export interface PtySession {
  write(data: string): void
  /** Everything the terminal received, escape sequences stripped. */
  text(): string
  /** Everything the terminal received, as bytes were written (escape sequences kept). */
  raw(): string
  /** Wait until the text received after `from` (default: everything) matches re. */
  expect(re: RegExp, o?: { from?: number; timeoutMs?: number }): Promise<string>
  /** Current length of text(): a mark for expect({from}). */
  mark(): number
  resize(cols: number, rows: number): void
  exited: Promise<number>
  kill(): void
}

/** The real ssh client in a real pseudo-terminal (node-pty), as a person would run it. */
export async function ptySsh(port: number, key: string, o: { user?: string; args?: string[]; cols?: number; rows?: number; env?: Record<string, string> } = {}): Promise<PtySession> {
  const pty = (await import('node-pty')).default
  const term = pty.spawn('ssh', [...sshArgs(port, key, o.args ?? ['-tt']), `${o.user ?? 'boxd'}@127.0.0.1`], {
    name: 'xterm', cols: o.cols ?? 100, rows: o.rows ?? 30, env: { ...process.env, TERM: 'xterm', ...o.env } as Record<string, string>,
  })
  let raw = ''
  term.onData((d) => (raw += d))
  const exited = new Promise<number>((r) => term.onExit(({ exitCode }) => r(exitCode)))
  const text = () => stripAnsi(raw)
  return {
    write: (d) => term.write(d),
    text,
    raw: () => raw,
    mark: () => text().length,
    async expect(re, eo = {}) {
      const deadline = Date.now() + (eo.timeoutMs ?? 8000)
      for (;;) {
        const t = text().slice(eo.from ?? 0)
        if (re.test(t)) return t
        if (Date.now() > deadline) throw new Error(`terminal never showed ${re}; got:\n${t}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    resize: (c, r) => term.resize(c, r),
    exited,
    kill: () => term.kill(),
  }
}

export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][A-Z0-9]/g, '')
}
