// Two byte streams joined both ways: a forwarded TCP connection, a WebSocket tunnel.
//
// Why not stream.pipeline(a, b) + pipeline(b, a): when one side closes its writable half first
// (a machine that sends its last bytes and a FIN, on a socket without allowHalfOpen), the other
// pipeline reports a premature close and destroys *both* streams — discarding bytes still queued
// for the client. pipe() has the same backpressure (a full writer pauses its reader) without that
// teardown, so the end of a stream is delivered as an orderly FIN after everything before it.
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/** Pipes a ↔ b until both directions end; an error or abort on either side tears down both. */
export function relay(a: Duplex, b: Duplex): void {
  // No batching of our own (see bridge.ts): a small write is passed on at once, not held for the
  // previous one's ACK. Only sockets have it; other duplexes (TLS wraps their socket) are left be.
  for (const s of [a, b]) (s as Partial<Socket>).setNoDelay?.(true)
  const kill = () => { a.destroy(); b.destroy() }
  a.on('error', kill)
  b.on('error', kill)
  // Closed without having ended (destroyed, reset): the peer gets nothing more, so drop it too.
  // Closed after its end: pipe() has already ended the other side, which flushes and then closes.
  a.once('close', () => { if (!a.readableEnded) b.destroy() })
  b.once('close', () => { if (!b.readableEnded) a.destroy() })
  a.pipe(b)
  b.pipe(a)
}
