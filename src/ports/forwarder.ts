// One forwarded host port: a TCP listener whose accepted connections are piped, both ways, into
// a machine through the driver's per-machine forwarder (Driver.connect; never an IP address).
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { AllowList } from './cidr.js'
import { relay } from './relay.js'

// Bounds per listener: live connections, and how long reaching the machine may take.
const MAX_CONNECTIONS = 1024
// Per accepted socket, how much may wait to be written before the machine side is paused. Node's
// 16 KiB default pauses and resumes the machine's socket every few reads; 256 KiB keeps bulk
// transfers flowing, and bounds a slow client's buffered data.
const HIGH_WATER_MARK = 256 * 1024
const CONNECT_TIMEOUT_MS = 10_000

export class Forwarder {
  private readonly server: Server
  private readonly live = new Set<Socket | Duplex>()

  constructor(
    private readonly allow: AllowList,
    private readonly connect: () => Promise<Duplex>,
    private readonly log: Logger,
    private readonly label: string,
  ) {
    // pauseOnConnect: no byte is read from a client before the machine end exists, so nothing is
    // buffered here beyond the socket's own window. allowHalfOpen: a client's FIN is passed on
    // as the machine's end of input, and the machine may still answer.
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, highWaterMark: HIGH_WATER_MARK }, (sock) => this.accept(sock))
    this.server.maxConnections = MAX_CONNECTIONS
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', reject)
        this.server.on('error', (err) => this.log.warn({ err, forward: this.label }, 'port forward listener error'))
        resolve()
      })
    })
  }

  /** Stops accepting and cuts the connections in flight: a closed port is closed now, not eventually. */
  close(): Promise<void> {
    for (const s of this.live) s.destroy()
    this.live.clear()
    return new Promise((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()))
  }

  get connections(): number {
    return this.live.size
  }

  private accept(sock: Socket): void {
    // Security gate: the --to allow-list. A source outside it gets a reset at once — nothing is
    // read from it and the machine is never contacted.
    if (!this.allow.allows(sock.remoteAddress)) {
      sock.resetAndDestroy()
      return
    }
    this.live.add(sock)
    sock.once('close', () => this.live.delete(sock))
    sock.on('error', () => {})
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timed out reaching the machine')), CONNECT_TIMEOUT_MS) })
    Promise.race([this.connect(), timeout]).then(
      (up) => {
        clearTimeout(timer)
        if (sock.destroyed) { up.destroy(); return }
        this.live.add(up)
        up.once('close', () => this.live.delete(up))
        // Backpressure both ways (a slow reader slows its writer); an error on either side tears
        // down both; an orderly end is passed on after every byte before it (relay.ts).
        relay(sock, up)
      },
      (err: Error) => {
        clearTimeout(timer)
        this.log.info({ forward: this.label, reason: err.message }, 'port forward could not reach the machine')
        sock.destroy()
      },
    )
  }
}
