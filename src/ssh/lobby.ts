// The interactive lobby (`ssh host`): node's readline over the channel. With a pty it is a REPL
// (prompt, history, completion, Ctrl-C, Ctrl-D, window-change); without one (`ssh -T host < file`)
// every input line runs as a command. A key with no account lands here only to enroll.
import { createInterface, type Interface } from 'node:readline'
import type { ServerChannel } from 'ssh2'
import type { App } from '../app.js'
import { mayRun } from '../auth/permissions.js'
import type { Principal } from '../auth/principal.js'
import { CommandError } from '../errors.js'
import { MAX_LINE_BYTES, tokenize } from '../registry/tokenize.js'
import type { Identity } from './auth.js'
import { enrollDialogue } from './enroll-dialogue.js'
import type { Enrollment } from './enrollment.js'
import type { TermInfo } from './machine-sessions.js'
import { crlf, isSecretLine, LiveLine, progressSink, writeAll } from './terminal.js'

export const PROMPT = 'boxd> '
const HISTORY_SIZE = 500
const LEAVE = new Set(['exit', 'quit', 'logout'])

export interface LobbyOptions {
  app: App
  enrollment: Enrollment
  channel: ServerChannel
  pty?: TermInfo
  /** The connection's identity; enrollment upgrades a newcomer to a user. */
  identity: () => Identity
  setIdentity: (i: Identity) => void
  onResize: (cb: () => void) => void
  idleTimeoutMs: number
  stdinBytes: number
  signal: AbortSignal
  /** How to reach this server, for hints ("ssh -p 2222 localhost"). */
  sshHint: string
}

/** A line reader over readline that also serves prompts for questions. */
class Lines {
  private readonly queue: string[] = []
  private waiter?: (l: string | undefined) => void
  private closed = false

  constructor(private readonly rl: Interface, private readonly history: string[]) {
    rl.on('line', (line: string) => {
      // readline added it to history before emitting: take secrets back out.
      if (isSecretLine(line)) this.forget(line)
      if (this.waiter) {
        const w = this.waiter
        this.waiter = undefined
        w(line)
      } else this.queue.push(line)
    })
    rl.on('close', () => {
      this.closed = true
      this.waiter?.(undefined)
      this.waiter = undefined
    })
  }

  next(prompt: string): Promise<string | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift())
    if (this.closed) return Promise.resolve(undefined)
    this.rl.setPrompt(prompt)
    this.rl.resume()
    this.rl.prompt()
    return new Promise((resolveP) => (this.waiter = resolveP))
  }

  forget(line: string): void {
    const i = this.history.indexOf(line)
    if (i >= 0) this.history.splice(i, 1)
  }
}

export async function runLobby(o: LobbyOptions): Promise<number> {
  const { app, channel, pty } = o
  const tty = Boolean(pty)
  const out = (s: string) => writeAll(channel, tty ? crlf(s) : s)
  // With a pty everything goes to the terminal in order, as with sshd (a separate stderr stream
  // would let the client print the next prompt before the error).
  const err = (s: string) => (tty ? out(s) : writeAll(channel.stderr, s))
  if (pty) {
    // readline sizes its line editing from output.columns/rows and redraws on 'resize'.
    Object.assign(channel, { columns: pty.cols, rows: pty.rows })
    o.onResize(() => {
      Object.assign(channel, { columns: pty.cols, rows: pty.rows })
      channel.emit('resize')
    })
  }
  const history: string[] = []
  const rl = createInterface({
    input: channel,
    output: tty ? channel : undefined,
    terminal: tty,
    prompt: PROMPT,
    history,
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: tty ? (line: string, cb: (e: null, r: [string[], string]) => void) => void complete(o, line).then((r) => cb(null, r), () => cb(null, [[], line])) : undefined,
  })
  // Node's readline keeps the array it was given; read it back in case it copied.
  const liveHistory = (rl as unknown as { history?: string[] }).history ?? history
  const lines = new Lines(rl, liveHistory)
  rl.on('SIGINT', () => {
    // Ctrl-C cancels the line being typed, as in a shell; it never ends the session.
    ;(rl as unknown as { line: string }).line = ''
    channel.write('^C\r\n')
    rl.prompt()
  })

  // readline buffers a line without limit; an unterminated flood would grow it forever.
  let pendingLine = 0
  const bound = (chunk: Buffer) => {
    const nl = Math.max(chunk.lastIndexOf(0x0a), chunk.lastIndexOf(0x0d))
    pendingLine = nl >= 0 ? chunk.length - nl - 1 : pendingLine + chunk.length
    if (pendingLine > MAX_LINE_BYTES) {
      pendingLine = 0
      void err(`\nerror: line longer than ${MAX_LINE_BYTES / 1024} KiB: closing the session\n`).then(() => rl.close())
    }
  }
  channel.on('data', bound)
  let idle: NodeJS.Timeout | undefined
  const touch = () => {
    if (o.idleTimeoutMs <= 0) return
    clearTimeout(idle)
    idle = setTimeout(() => {
      void err(`\nidle for ${Math.round(o.idleTimeoutMs / 60_000)} min: closing the session\n`).then(() => rl.close())
    }, o.idleTimeoutMs)
    idle.unref()
  }
  channel.on('data', touch)
  touch()
  o.signal.addEventListener('abort', () => rl.close(), { once: true })

  let last = 0
  try {
    if (o.identity().kind === 'newcomer') {
      const enrolled = await enrollDialogue({ enrollment: o.enrollment, identity: o.identity(), ask: (q) => lines.next(q), say: out, forget: (l) => lines.forget(l), sshHint: o.sshHint })
      if (!enrolled) return 3
      o.setIdentity(enrolled)
    }
    const me = o.identity()
    if (me.kind !== 'user') return 3
    if (tty) await out(`Welcome to boxd, ${me.principal.user.email}. Type \`help\` for commands, Tab to complete, \`exit\` or Ctrl-D to leave.\n`)
    const live = pty ? new LiveLine(channel, () => pty.cols) : undefined
    for (;;) {
      const line = await lines.next(PROMPT)
      if (line === undefined) break
      const trimmed = line.trim()
      if (trimmed === '' || trimmed.startsWith('#')) continue
      if (LEAVE.has(trimmed)) break
      rl.pause() // typed-ahead keys wait until the command answered, instead of echoing into its output
      const progress = progressSink(trimmed, live, channel.stderr)
      const outcome = await app.dispatcher.dispatch({
        line: trimmed, principal: me.principal, door: 'ssh', tty,
        // The lobby's channel is the keyboard: verbs that read stdin get nothing (pass arguments).
        stdin: async () => undefined,
        progress: progress.report,
        signal: o.signal,
      })
      progress.done()
      await out(outcome.stdout)
      await err(outcome.stderr)
      last = outcome.exit
    }
    return tty ? 0 : last
  } catch (e) {
    if (e instanceof CommandError) await err(`error: ${e.message}\n`)
    else throw e
    return 1
  } finally {
    clearTimeout(idle)
    channel.off('data', touch)
    channel.off('data', bound)
    rl.close()
  }
}

/** Tab: verb names (those this user may run), then machine names where the verb takes one. */
async function complete(o: LobbyOptions, line: string): Promise<[string[], string]> {
  const me = o.identity()
  if (me.kind !== 'user') return [[], line]
  const head = line.trimStart()
  const verbs = [...o.app.registry.commands.filter((c) => mayRun(me.principal, c)).map((c) => c.name), 'exit'].map((v) => `${v} `)
  const verbHits = verbs.filter((v) => v.startsWith(head) && v.length > head.length)
  if (verbHits.length > 0) return [verbHits, head]
  const word = /(\S*)$/.exec(line)?.[1] ?? ''
  if (!takesMachine(o, line, me.principal)) return [[], word]
  const names = (await o.app.machineSessions?.names(me.principal)) ?? []
  return [names.filter((n) => n.startsWith(word)).sort(), word]
}

function takesMachine(o: LobbyOptions, line: string, principal: Principal): boolean {
  try {
    const { cmd } = o.app.registry.resolve(tokenize(line))
    return mayRun(principal, cmd) && [...Object.values(cmd.args), ...Object.values(cmd.flags)].some((p) => p.machine)
  } catch {
    return false
  }
}
