// One session channel: pty and window-change are noted, forwarding-like requests refused, then
// shell → lobby or machine, exec → dispatcher or machine, subsystem → a message. The channel
// always gets an exit status and a close, so no client is left hanging.
import type { Writable } from 'node:stream'
import type { ServerChannel, Session } from 'ssh2'
import type { SshConnection } from './connection.js'
import { runExec } from './exec.js'
import { runLobby } from './lobby.js'
import type { TermInfo } from './machine-sessions.js'
import { crlf, writeAll } from './terminal.js'

const NEEDS_ACCOUNT = 3 // exit status of `unauthenticated`

export function serveSession(conn: SshConnection, session: Session): void {
  let pty: TermInfo | undefined
  const resize: Array<() => void> = []
  let agentRefused = false

  session.on('pty', (accept, _reject, info) => {
    pty = { term: info.term ?? 'xterm', cols: info.cols || 80, rows: info.rows || 24 }
    accept?.()
  })
  session.on('window-change', (accept, _reject, info) => {
    if (pty) {
      pty.cols = info.cols || pty.cols
      pty.rows = info.rows || pty.rows
      for (const cb of resize) cb()
    }
    accept?.()
  })
  // Environment variables change nothing in the lobby; refusing them mirrors sshd without AcceptEnv.
  session.on('env', (_accept, reject) => reject?.())
  // The lobby offers no X11 display nor agent: refused, and the client prints that X11 failed.
  session.on('x11', (_accept, reject) => reject?.())
  session.on('auth-agent', (_accept, reject) => {
    agentRefused = true // OpenSSH asks without wanting a reply, so the lobby says it instead
    reject?.()
  })
  session.on('signal', (_accept, reject) => reject?.())

  session.on('shell', (accept) => {
    const channel = accept()
    conn.track(finish(channel, async () => {
      const target = await conn.target()
      if (target.machine) return conn.openMachine(target.machine, channel, pty, undefined, resize)
      if (agentRefused && pty) await writeAll(channel, 'boxd: agent forwarding is not offered here (ignored)\r\n')
      // The lobby ends with the connection, or right after a shutdown notice.
      const ctl = new AbortController()
      const stop = () => ctl.abort()
      conn.signal.addEventListener('abort', stop, { once: true })
      const off = conn.onShutdown(() => void writeAll(errors(channel, pty), text(pty, '\nboxd: the server is shutting down, bye\n')).then(stop))
      try {
        return await runLobby({
          app: conn.app, enrollment: conn.enrollment, channel, pty,
          identity: () => conn.identity, setIdentity: (i) => conn.setIdentity(i),
          onResize: (cb) => resize.push(cb),
          idleTimeoutMs: conn.limits.idleTimeoutMs, stdinBytes: conn.limits.stdinBytes,
          signal: ctl.signal, sshHint: conn.sshHint,
        })
      } finally {
        off()
        conn.signal.removeEventListener('abort', stop)
      }
    }))
  })

  session.on('exec', (accept, _reject, info) => {
    const channel = accept()
    conn.track(finish(channel, async () => {
      const target = await conn.target()
      if (target.machine) return conn.openMachine(target.machine, channel, pty, info.command, resize)
      const me = conn.identity
      if (me.kind !== 'user') {
        // An unknown key got this far only to enroll, which needs the interactive lobby.
        await writeAll(errors(channel, pty), text(pty, `error: this key has no account here yet\nhint: run \`${conn.sshHint}\` (interactive) once to ${conn.enrollment.bootstrapPending ? 'enter the bootstrap code' : 'sign up'}\n`))
        return NEEDS_ACCOUNT
      }
      return runExec(conn.app, { principal: me.principal, command: info.command, channel, pty, stdinBytes: conn.limits.stdinBytes, signal: conn.signal })
    }))
  })

  session.on('subsystem', (accept, _reject, info) => {
    // Accepted only to explain: a bare refusal leaves sftp/scp printing a cryptic "Connection closed".
    const channel = accept() as ServerChannel
    conn.track(finish(channel, async () => {
      await writeAll(channel.stderr, `boxd: the "${String(info.name).slice(0, 40)}" subsystem is not offered by the lobby; file transfer belongs to machines (ssh NAME@host)\n`)
      return 1
    }))
  })
}

function text(pty: TermInfo | undefined, s: string): string {
  return pty ? crlf(s) : s
}

/** Where error text goes: with a pty the one terminal stream (in order, as sshd), else stderr. */
function errors(channel: ServerChannel, pty: TermInfo | undefined): Writable {
  return pty ? channel : channel.stderr
}

/** Run the session body, then always: exit status, EOF, close. Unexpected errors become 70. */
async function finish(channel: ServerChannel, body: () => Promise<number>): Promise<void> {
  let code = 70
  try {
    code = await body()
  } catch (e) {
    await writeAll(channel.stderr, 'error: internal error\n')
    throw e
  } finally {
    if (!channel.destroyed) {
      channel.exit(code)
      channel.end()
    }
  }
}
