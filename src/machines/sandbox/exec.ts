// Running a process inside a sandbox machine.
//
//   sh JOIN_CGROUPS_AND_EXEC <cgroup.procs…> -- nsenter -t INIT -m -u -i -n -p -C -U -r --wdns=CWD \
//     -- /dev/.boxd/busybox env -i KEY=VALUE… argv…
//
// nsenter enters the host-owned namespaces first and the machine's user namespace last, so the
// process ends up as uid 0 with capabilities only inside the machine (same as its init).
// The environment (machine env + exec env, both user-controlled) is applied by `env -i` INSIDE the
// machine: the host-side sh/nsenter run with a fixed environment, so e.g. LD_PRELOAD pointing at a
// file in the machine's disk can never load into a host-side process running as root.
import { spawn } from 'node:child_process'
import os from 'node:os'
import { PassThrough, Writable } from 'node:stream'
import pty from 'node-pty'
import { LOGIN_SHELL, type ExecOptions, type ExecProcess } from '../driver.js'
import { MACHINE_PATH, JOIN_CGROUPS_AND_EXEC } from './boot.js'

const HOST_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }

export interface ExecTarget {
  nsenter: string
  sh: string
  initPid: number
  procsFiles: string[]
  machineEnv: Record<string, string>
  hostname: string
  /** Working directory when the caller gives none. */
  defaultCwd: string
}

/** The full host-side argv (after `sh -c JOIN_CGROUPS_AND_EXEC`). */
export function execArgv(t: ExecTarget, opts: ExecOptions): string[] {
  const env: Record<string, string> = {
    PATH: MACHINE_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root', HOSTNAME: t.hostname,
    ...(opts.tty ? { TERM: opts.tty.term || 'xterm' } : {}),
    ...t.machineEnv, ...opts.env,
  }
  const argv = opts.argv.length ? opts.argv : LOGIN_SHELL
  // busybox env runs its own applet for a bare name ("sh", "ps" …) instead of the machine's
  // program; a bare name therefore goes through the machine's /bin/sh for the PATH lookup.
  const command = argv[0].includes('/') ? argv : ['/bin/sh', '-c', 'exec "$@"', argv[0], ...argv]
  return [
    'boxd-exec', ...t.procsFiles, '--',
    t.nsenter, '-t', String(t.initPid), '-m', '-u', '-i', '-n', '-p', '-C', '-U', '-r', `--wdns=${opts.cwd || t.defaultCwd}`, '--',
    '/dev/.boxd/busybox', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...command,
  ]
}

export function execInMachine(t: ExecTarget, opts: ExecOptions): ExecProcess {
  return opts.tty ? execPty(t, opts) : execPipes(t, opts)
}

const signalName = (n: number): string | null =>
  (Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0]) ?? null

function execPipes(t: ExecTarget, opts: ExecOptions): ExecProcess {
  // detached: own process group, so kill() reaches nsenter's child inside the machine too.
  const child = spawn(t.sh, ['-c', JOIN_CGROUPS_AND_EXEC, ...execArgv(t, opts)], {
    stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: HOST_ENV, cwd: '/',
  })
  child.stdin.on('error', () => { /* the process exited while input was still flowing */ })
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('error', () => resolve({ code: 127, signal: null }))
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    resize: () => { /* no terminal */ },
    kill: (signal = 'SIGTERM') => killGroup(child.pid, signal),
    exited,
  }
}

function execPty(t: ExecTarget, opts: ExecOptions): ExecProcess {
  const tty = opts.tty!
  const term = pty.spawn(t.sh, ['-c', JOIN_CGROUPS_AND_EXEC, ...execArgv(t, opts)], {
    name: tty.term || 'xterm', cols: tty.cols, rows: tty.rows, cwd: '/', env: HOST_ENV, encoding: null,
  })
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  stderr.end()
  // Backpressure: stop reading the pty while the consumer is behind.
  term.onData((data: string | Buffer) => {
    if (!stdout.write(data)) {
      term.pause()
      stdout.once('drain', () => term.resume())
    }
  })
  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      try { term.write(chunk) } catch { /* exited */ }
      cb()
    },
  })
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    term.onExit(({ exitCode, signal }) => {
      // node-pty reports exit once the pty is drained; end stdout after pending data events.
      setImmediate(() => stdout.end())
      resolve(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null })
    })
  })
  return {
    stdin,
    stdout,
    stderr,
    resize: (cols, rows) => { try { term.resize(cols, rows) } catch { /* exited */ } },
    kill: (signal = 'SIGTERM') => killGroup(term.pid, signal),
    exited,
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return
  try {
    process.kill(-pid, signal)
  } catch {
    try { process.kill(pid, signal) } catch { /* already gone */ }
  }
}
