// `ssh host '<verb…>'`: exec string → dispatcher → stdout, stderr, exit status. Nothing else.
import type { ServerChannel } from 'ssh2'
import type { App } from '../app.js'
import type { Principal } from '../auth/principal.js'
import { CommandError } from '../errors.js'
import type { TermInfo } from './machine-sessions.js'
import { crlf, LiveLine, progressSink, writeAll } from './terminal.js'

export interface ExecRequest {
  principal: Principal
  command: string
  channel: ServerChannel
  pty?: TermInfo
  stdinBytes: number
  signal: AbortSignal
}

/** Runs one command; resolves with the exit status (the caller sends it and closes). */
export async function runExec(app: App, req: ExecRequest): Promise<number> {
  const { channel, pty } = req
  const progress = progressSink(req.command, pty ? new LiveLine(channel, () => pty.cols) : undefined, channel.stderr)
  const outcome = await app.dispatcher.dispatch({
    line: req.command,
    principal: req.principal,
    door: 'ssh',
    tty: Boolean(pty),
    stdin: channelStdin(channel, req.stdinBytes, Boolean(pty)),
    progress: progress.report,
    signal: req.signal,
  })
  progress.done()
  if (pty) {
    // A pty is one terminal: stderr joins stdout in order, as sshd's pty does.
    await writeAll(channel, crlf(outcome.stdout + outcome.stderr))
  } else {
    await writeAll(channel, outcome.stdout)
    await writeAll(channel.stderr, outcome.stderr)
  }
  return outcome.exit
}

/**
 * The channel's stdin, read only when a verb asks (so `ssh host whoami` never waits for an EOF
 * nobody sends), bounded, and EOF-terminated. With a pty the client's tty is raw: Ctrl-D arrives as
 * a byte, and ends the input like a terminal would.
 */
export function channelStdin(channel: ServerChannel, limit: number, tty: boolean): () => Promise<Buffer | undefined> {
  let pending: Promise<Buffer> | undefined
  return () =>
    (pending ??= new Promise<Buffer>((resolveP, reject) => {
      const chunks: Buffer[] = []
      let size = 0
      const finish = (err?: CommandError) => {
        channel.off('data', onData)
        channel.off('end', onEnd)
        channel.off('close', onEnd)
        channel.pause()
        if (err) reject(err)
        else resolveP(Buffer.concat(chunks))
      }
      const onData = (c: Buffer) => {
        const eot = tty ? c.indexOf(0x04) : -1
        const part = eot >= 0 ? c.subarray(0, eot) : c
        size += part.length
        // Bounded: a verb's input is a key or a config, never a stream to buffer without end.
        if (size > limit) return finish(new CommandError('payload_too_large', `stdin is larger than ${limit / 1024} KiB`))
        chunks.push(part)
        if (eot >= 0) finish()
      }
      const onEnd = () => finish()
      if (channel.readableEnded) return resolveP(Buffer.alloc(0))
      channel.on('data', onData)
      channel.once('end', onEnd)
      channel.once('close', onEnd)
      channel.resume()
    }))
}
