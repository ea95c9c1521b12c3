// `ssh NAME@host`: a login shell or a command inside the caller's machine, plugged into the SSH door
// through its MachineSessions seam. Ownership is the verbs' rule: not yours → not there.
import { constants } from 'node:os'
import type { Principal } from '../auth/principal.js'
import { CommandError, exitStatus } from '../errors.js'
import type { MachineSessionRequest, MachineSessions, SessionIo } from '../ssh/machine-sessions.js'
import type { MachineService } from './service.js'

export class MachineShells implements MachineSessions {
  constructor(private readonly machines: MachineService) {}

  names(principal: Principal): string[] {
    return this.machines.list(principal, []).map((m) => m.name)
  }

  async open(req: MachineSessionRequest, io: SessionIo): Promise<number> {
    let proc
    try {
      const row = this.machines.owned(req.principal, req.machine)
      proc = await this.machines.exec(row, {
        // A command runs under sh -c as OpenSSH's sshd does with the user's shell; none → login shell.
        argv: req.command === undefined ? [] : ['/bin/sh', '-c', req.command],
        tty: req.pty ? { cols: req.pty.cols, rows: req.pty.rows, term: req.pty.term || 'xterm-256color' } : undefined,
      })
    } catch (e) {
      // A stopped or missing machine answers clearly and non-zero; never a silent fall-back to the lobby.
      const err = e instanceof CommandError ? e : new CommandError('failed', `could not open a session in ${req.machine}: ${(e as Error).message}`)
      io.stderr.write(`error: ${err.message}\r\n${err.hint ? `hint: ${err.hint}\r\n` : ''}`)
      return exitStatus(err.code)
    }
    io.stdin.pipe(proc.stdin as NodeJS.WritableStream)
    proc.stdout.pipe(io.stdout, { end: false })
    proc.stderr.pipe(io.stderr, { end: false })
    io.onResize(({ cols, rows }) => proc.resize(cols, rows))
    const onAbort = () => proc.kill('SIGHUP')
    io.signal.addEventListener('abort', onAbort, { once: true })
    const { code, signal } = await proc.exited
    io.signal.removeEventListener('abort', onAbort)
    io.stdin.unpipe(proc.stdin as NodeJS.WritableStream)
    // Let buffered output drain to the channel before the door sends the exit status.
    await Promise.all([drained(proc.stdout), drained(proc.stderr)])
    if (code !== null) return code
    return 128 + ((signal && constants.signals[signal as NodeJS.Signals]) || 1)
  }
}

function drained(s: NodeJS.ReadableStream): Promise<void> {
  const r = s as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean }
  if (r.readableEnded || r.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => resolve()
    s.once('end', done)
    s.once('close', done)
    setTimeout(done, 2000).unref()
  })
}
