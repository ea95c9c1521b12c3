// Not a bench module: the real `boxd serve` binary (dist/cli.js) as a child process on loopback
// ephemeral ports, and the real OpenSSH client against it, for the modules that measure through
// the real doors (machines.mjs, ls.mjs). The server logs at its default level to a file.
import { execFile, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export const NO_RATE_LIMITS = ['--rate-limit-per-minute', '0', '--rate-limit-mutating-per-minute', '0', '--rate-limit-per-hour', '0']

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
export const percentile = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] }

/** Starts `boxd serve --data-dir DIR …args`; resolves once both doors listen (after reconciliation). */
export async function startServe(dataDir, args = [], timeoutMs = 60_000) {
  const logFile = `${dataDir}.serve.log`
  const fd = openSync(logFile, 'a')
  const from = readFileSync(logFile, 'utf8').length
  const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1', '--ssh-port', '0', '--http-port', '0', ...args], { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  const exited = new Promise((r) => child.once('exit', (code, signal) => r(signal ?? code)))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const out = readFileSync(logFile, 'utf8').slice(from)
    const ssh = /^ssh: listening on 127\.0\.0\.1:(\d+)/m.exec(out)
    const http = /^http: http:\/\/127\.0\.0\.1:(\d+)\//m.exec(out)
    if (ssh && http) {
      return {
        pid: child.pid, sshPort: Number(ssh[1]), httpPort: Number(http[1]), logFile,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return
          child.kill('SIGTERM')
          const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
          await exited
          clearTimeout(t)
        },
      }
    }
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`boxd serve did not start:\n${out.slice(-2000)}`)
    }
    await sleep(50)
  }
}

const clientOpts = (key, port) => [
  '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-i', key, '-p', String(port),
]

/** One run of the real `ssh` client: { code, stdout, stderr, ms } (wall time, process spawn included). */
export function ssh(key, port, dest, command, timeout = 120_000) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    execFile('ssh', [...clientOpts(key, port), dest, command], { timeout, encoding: 'utf8' }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 })
    })
  })
}

/** Like ssh(), but throws unless it exits 0. */
export async function sshOk(key, port, dest, command, timeout) {
  const r = await ssh(key, port, dest, command, timeout)
  if (r.code !== 0) throw new Error(`ssh ${dest} ${command}: exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`)
  return r
}

export function sshKeygen(path, comment = 'bench') {
  return new Promise((resolve, reject) => execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], (e) => (e ? reject(e) : resolve(path))))
}
