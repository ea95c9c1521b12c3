// The HTTPS door for tests: a real app on a temp data dir, served on 127.0.0.1 ephemeral ports;
// keys made by the real ssh-keygen, tokens by the real boxdtoken shell function, requests by the
// real curl.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import { createUser } from '../../src/auth/accounts.js'
import type { RateLimits } from '../../src/auth/ratelimit.js'
import type { HttpDoorOptions } from '../../src/http/app.js'
import { startHttpServers, type HttpDoor } from '../../src/http/server.js'
import type { Clock } from '../../src/services.js'
import type { User } from '../../src/store/index.js'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const BOXD_TOKEN_SH = join(REPO, 'scripts/boxd-token.sh')
export const DOMAIN = 'boxd.localhost'
export const NAMESPACE = `v0@${DOMAIN}`

/** A clock tests can move; starts at the real time so ssh-keygen-signed exp/nbf make sense. */
export class MovableClock implements Clock {
  offsetMs = 0
  now() { return new Date(Date.now() + this.offsetMs) }
  advance(ms: number) { this.offsetMs += ms }
}

export interface HttpTestServer {
  app: App
  door: HttpDoor
  dir: string
  clock: MovableClock
  /** http://127.0.0.1:PORT (plain) */
  http: string
  /** https://127.0.0.1:PORT, when started with https */
  https?: string
  close(): Promise<void>
}

export async function startTestServer(o: { https?: boolean; rateLimits?: Partial<RateLimits>; door?: HttpDoorOptions; app?: (app: App) => App } = {}): Promise<HttpTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-http-'))
  const clock = new MovableClock()
  const config = resolveConfig({ dataDir: dir, domain: DOMAIN, listen: '127.0.0.1', httpPort: 0, httpsPort: o.https ? 0 : undefined, rateLimits: o.rateLimits })
  const app = createApp(config, { clock, log: pino({ level: 'silent' }) })
  const door = await startHttpServers(o.app ? o.app(app) : app, o.door)
  return {
    app, door, dir, clock,
    http: `http://127.0.0.1:${door.ports.http}`,
    https: door.ports.https === undefined ? undefined : `https://127.0.0.1:${door.ports.https}`,
    async close() {
      await door.close()
      app.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export type KeyType = 'ed25519' | 'rsa' | 'ecdsa'

/** A fresh key pair made by ssh-keygen; returns the private key path (public at path + '.pub'). */
export function sshKeygen(dir: string, type: KeyType, name: string = type): string {
  const path = join(dir, `${name}-${Math.random().toString(36).slice(2, 8)}`)
  const args = type === 'rsa' ? ['-t', 'rsa', '-b', '3072'] : type === 'ecdsa' ? ['-t', 'ecdsa', '-b', '256'] : ['-t', 'ed25519']
  execFileSync('ssh-keygen', [...args, '-q', '-N', '', '-C', name, '-f', path])
  return path
}

export function publicKeyOf(keyPath: string): string {
  return readFileSync(`${keyPath}.pub`, 'utf8').trim()
}

/** A user whose one registered key is `keyPath`. */
export function addUserWithKey(app: App, email: string, keyPath: string, role: 'admin' | 'user' = 'user'): User {
  return createUser(app.services.store, app.services.clock, { email, role, keyText: publicKeyOf(keyPath) })
}

/** The README's shell recipe, for real: `boxdtoken PAYLOAD KEY DOMAIN` from scripts/boxd-token.sh. */
export function boxdtoken(payload: string, keyPath: string, domain = DOMAIN): string {
  const r = spawnSync('sh', ['-c', '. "$1"; shift; boxdtoken "$@"', 'sh', BOXD_TOKEN_SH, payload, keyPath, domain], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`boxdtoken failed: ${r.stderr}`)
  return r.stdout.trim()
}

/** Signs `payload` with `ssh-keygen -Y sign -n NAMESPACE` and returns the binary SSHSIG blob. */
export function sshsigBlob(payload: string, keyPath: string, namespace: string): Buffer {
  const armored = execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', namespace, '-f', keyPath], { input: payload, encoding: 'utf8' })
  return Buffer.from(armored.split('\n').filter((l) => l && !l.startsWith('-----')).join(''), 'base64')
}

export interface CurlResult {
  status: number
  headers: Record<string, string>
  body: string
  json: any
  /** curl's own exit status (0 unless the transfer failed). */
  exit: number | null
}

/**
 * One request with the real curl. `args` are extra curl arguments (e.g. ['-X', 'GET']);
 * `data` is sent with --data-binary; headers are parsed from -D.
 */
export function curl(url: string, o: { token?: string; data?: string; args?: string[]; authorization?: string; stdin?: string | Buffer } = {}): Promise<CurlResult> {
  const args = ['-s', '-S', '-k', '--max-time', '20', '-D', '-', '-o', '-', '-w', '\n%{http_code}']
  if (o.token !== undefined) args.push('-H', `Authorization: Bearer ${o.token}`)
  if (o.authorization !== undefined) args.push('-H', `Authorization: ${o.authorization}`)
  if (o.data !== undefined) args.push('--data-binary', o.data)
  args.push(...(o.args ?? []), url)
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.resume()
    child.on('error', reject)
    child.on('close', (exit) => {
      const text = Buffer.concat(out).toString('utf8')
      const nl = text.lastIndexOf('\n')
      const status = Number(text.slice(nl + 1))
      let rest = text.slice(0, nl)
      // `Expect: 100-continue` answers come first, each with its own blank line.
      while (/^HTTP\/[\d.]+ 100/.test(rest) && rest.includes('\r\n\r\n')) rest = rest.slice(rest.indexOf('\r\n\r\n') + 4)
      const sep = rest.indexOf('\r\n\r\n')
      const head = sep < 0 ? '' : rest.slice(0, sep)
      const body = sep < 0 ? rest : rest.slice(sep + 4)
      const headers: Record<string, string> = {}
      for (const l of head.split('\r\n').slice(1)) {
        const i = l.indexOf(':')
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
      }
      let json: unknown
      try { json = JSON.parse(body) } catch { json = undefined }
      resolve({ status, headers, body, json, exit })
    })
    if (o.stdin !== undefined) child.stdin.end(o.stdin)
    else child.stdin.end()
  })
}
