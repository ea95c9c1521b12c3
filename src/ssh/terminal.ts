// Bytes for the client's terminal. With a pty the client's tty is in raw mode and there is no
// kernel line discipline on our side, so "\n" must be sent as "\r\n" (what ONLCR would do).
import type { Writable } from 'node:stream'
import { tokenize } from '../registry/tokenize.js'

export function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n')
}

/** Write and wait until the channel took it (so exit-status never overtakes the output). */
export function writeAll(stream: Writable, text: string): Promise<void> {
  if (text === '' || stream.destroyed || !stream.writable) return Promise.resolve()
  return new Promise((resolveP) => stream.write(text, () => resolveP()))
}

/** Lines that carry a secret never enter the lobby's history: tokens and private keys. */
export function isSecretLine(line: string): boolean {
  return /boxd[01]\.|PRIVATE KEY/.test(line)
}

/** A progress line redrawn in place on a TTY; cleared before real output is written. */
export class LiveLine {
  private shown = false
  constructor(private readonly out: Writable, private readonly cols: () => number) {}

  show(message: string): void {
    const width = Math.max(10, this.cols() - 1)
    const line = message.replace(/[\x00-\x1f\x7f]/g, ' ')
    this.out.write(`\r\x1b[K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`)
    this.shown = true
  }

  /** The verb is done: keep its last progress line on screen (it may be a notice) and move on. */
  done(): void {
    if (this.shown) this.out.write('\r\n')
    this.shown = false
  }
}

/**
 * Where a verb's progress goes: a live line on a TTY, plain lines on stderr otherwise, nowhere
 * with --json (a script parsing stdout wants nothing else on the terminal stream).
 */
export function progressSink(line: string, tty: LiveLine | undefined, stderr: Writable): { report?: (m: string) => void; done(): void } {
  if (wantsJson(line)) return { done: () => {} }
  if (tty) return { report: (m) => tty.show(m), done: () => tty.done() }
  return { report: (m) => void stderr.write(`${m.replace(/[\x00-\x1f\x7f]/g, ' ')}\n`), done: () => {} }
}

/** The dispatcher decides --json after resolving the verb; the door needs to know before. */
function wantsJson(line: string): boolean {
  try {
    const words = tokenize(line)
    const end = words.indexOf('--')
    return (end < 0 ? words : words.slice(0, end)).some((w) => w === '--json' || w.startsWith('--json='))
  } catch {
    return false
  }
}
