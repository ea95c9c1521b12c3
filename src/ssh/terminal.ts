// Bytes for the client's terminal. With a pty the client's tty is in raw mode and there is no
// kernel line discipline on our side, so "\n" must be sent as "\r\n" (what ONLCR would do).
import type { Writable } from 'node:stream'

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

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K')
    this.shown = false
  }
}
