// The real `boxd serve` binary (dist/cli.js, built by `npm test`) as a child process on loopback
// ephemeral ports: for suites that must kill it (-9), flood it, or load it from another process.
// Its output goes to a log file in the data dir's parent; every wait is bounded.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runSsh, type KeyFiles, type SshOptions, type SshResult } from './ssh.js'

export const BIN = join(import.meta.dirname, '../../dist/cli.js')

/** Lift every rate limit (the limiter still runs): for suites whose subject is not the limiter. */
export const NO_RATE_LIMITS = ['--rate-limit-per-minute', '0', '--rate-limit-mutating-per-minute', '0', '--rate-limit-per-hour', '0']

export interface ServeProcess {
  child: ChildProcess
  pid: number
  sshPort: number
  httpPort: number
  /** http://127.0.0.1:PORT */
  http: string
  logFile: string
  /** The real OpenSSH client against this server's SSH door. */
  ssh(key: KeyFiles, command: string, o?: SshOptions): Promise<SshResult>
  /** Resolves with the exit code or signal once the process has exited. */
  exited: Promise<number | NodeJS.Signals | null>
  /** SIGTERM (clean shutdown), SIGKILL after timeoutMs. */
  stop(timeoutMs?: number): Promise<void>
}

export interface ServeOptions {
  dataDir: string
  /** First admin, by key file (only needed on the first start of a data dir). */
  admin?: { key: KeyFiles; email: string }
  /** Extra `boxd serve` flags. */
  args?: string[]
  env?: Record<string, string>
  startTimeoutMs?: number
}

export async function startServe(o: ServeOptions): Promise<ServeProcess> {
  if (!existsSync(BIN)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does)')
  const logFile = `${o.dataDir}.serve.log`
  const fd = openSync(logFile, 'a')
  const args = [BIN, 'serve', '--data-dir', o.dataDir, '--listen', '127.0.0.1', '--ssh-port', '0', '--http-port', '0', ...(o.args ?? [])]
  if (o.admin) args.push('--admin-key', o.admin.key.pub, '--admin-email', o.admin.email)
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...o.env } })
  closeSync(fd)
  const exited = new Promise<number | NodeJS.Signals | null>((resolveP) => child.once('exit', (code, signal) => resolveP(signal ?? code)))
  const deadline = Date.now() + (o.startTimeoutMs ?? 60_000)
  const start = readFileSync(logFile, 'utf8').length  // a restart appends to the same log
  let ports: { ssh: number; http: number } | undefined
  while (!ports) {
    const out = readFileSync(logFile, 'utf8').slice(start)
    const ssh = /^ssh: listening on 127\.0\.0\.1:(\d+)/m.exec(out)
    const http = /^http: http:\/\/127\.0\.0\.1:(\d+)\//m.exec(out)
    if (ssh && http) ports = { ssh: Number(ssh[1]), http: Number(http[1]) }
    else if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`boxd serve did not start (${child.exitCode ?? child.signalCode ?? 'timeout'}):\n${out.slice(-3000)}`)
    } else await new Promise((r) => setTimeout(r, 50))
  }
  const { ssh, http } = ports
  return {
    child, pid: child.pid!, sshPort: ssh, httpPort: http, http: `http://127.0.0.1:${http}`, logFile, exited,
    ssh: (key, command, so) => runSsh(ssh, key.path, [command], so),
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(t)
    },
  }
}
