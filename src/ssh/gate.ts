// TCP-level admission, before ssh2 sees a byte: a cap on concurrent unauthenticated connections
// and a login grace timer. A connection leaves the gate's watch once it authenticates.
//
// Why "drop the oldest" rather than "refuse the newest" when full: an attacker who parks N idle
// connections would otherwise lock everyone out for a whole grace period (the MaxStartups
// problem). An honest client authenticates in well under a second, so the oldest unauthenticated
// connection is the one least likely to be a real user; parking connections then buys nothing.
import type { Socket } from 'node:net'

export interface GateOptions {
  maxUnauthenticated: number
  loginGraceMs: number
  onDrop?: (why: 'evicted' | 'grace', socket: Socket) => void
}

interface Pending {
  socket: Socket
  timer: NodeJS.Timeout
}

export class ConnectionGate {
  /** Insertion-ordered: the first entry is the oldest unauthenticated connection. */
  private readonly pending = new Map<string, Pending>()

  constructor(private readonly opts: GateOptions) {}

  get unauthenticated(): number {
    return this.pending.size
  }

  /** Track a fresh socket; may drop the oldest unauthenticated one to make room. */
  admit(socket: Socket): void {
    const id = connectionId(socket)
    if (id === undefined) {
      socket.destroy()
      return
    }
    while (this.pending.size >= Math.max(1, this.opts.maxUnauthenticated)) {
      const [oldId, old] = this.pending.entries().next().value as [string, Pending]
      this.forget(oldId)
      this.opts.onDrop?.('evicted', old.socket)
      old.socket.destroy()
    }
    const timer = setTimeout(() => {
      // Not authenticated within the grace time: no reason to keep holding a slot for it.
      if (this.forget(id)) {
        this.opts.onDrop?.('grace', socket)
        socket.destroy()
      }
    }, this.opts.loginGraceMs)
    timer.unref()
    this.pending.set(id, { socket, timer })
    socket.once('close', () => this.forget(id))
  }

  /** The connection authenticated: it no longer counts against the cap nor the grace timer. */
  authenticated(id: string): void {
    this.forget(id)
  }

  /** Drop every connection still unauthenticated (shutdown). */
  dropAll(): void {
    for (const [id, p] of [...this.pending]) {
      this.forget(id)
      p.socket.destroy()
    }
  }

  private forget(id: string): boolean {
    const p = this.pending.get(id)
    if (!p) return false
    clearTimeout(p.timer)
    this.pending.delete(id)
    return true
  }
}

/** remote address:port, unique among live connections; ssh2 reports the same pair per client. */
export function connectionId(s: { remoteAddress?: string; remotePort?: number } | { ip?: string; port?: number }): string | undefined {
  const addr = 'remoteAddress' in s ? s.remoteAddress : 'ip' in s ? s.ip : undefined
  const port = 'remotePort' in s ? s.remotePort : 'port' in s ? s.port : undefined
  return addr === undefined || port === undefined ? undefined : `${addr}|${port}`
}
