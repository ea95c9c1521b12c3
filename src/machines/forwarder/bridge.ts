// The byte-copying core shared by the helper programs that carry traffic into a machine: the
// per-machine forwarder (script.ts) and the per-port relays (src/ports/relay-program.ts). It is
// CommonJS source text spliced into those programs (they ship as text: see script.ts), defining
//   bridgeReader()                       → { onread, ... } for one direction of one connection
//   adoptAccepted(sock, reader, MAX)     → a socket from a server's 'connection' that reads via reader
//   bridgeJoin(a, readerOfA, b, readerOfB) → both directions flowing until both end (bytes a
//                                         reader kept before the join are delivered first)
//
// Why not a.pipe(b): measured on the 2-core bench box (scripts/bench/forward.mjs), a stream
// relay spends ~2.5x the CPU of either endpoint per byte: a fresh 64 KiB Buffer per read, the
// Readable/Writable queues, a syscall pair per 64 KiB. Node's `onread` option reads straight into
// one reused buffer; each chunk is written to the peer at once and, when the kernel takes it whole
// (the common case), the buffer is free for the next read. Relay CPU per byte halves; reads are up
// to BRIDGE_BUFFER (1 MiB) each once a direction carries bulk data. A splice(2) relay in C, tried for comparison, cost less in the
// relay but more in the client (page-fragmented skbs) and was no faster end to end.
//
// Backpressure: while a write is still in flight (the peer's socket buffer is full), the source
// is not read (onread returns false = readStop) until that write completes, so each direction
// holds at most BRIDGE_BUFFER bytes in this process, and the buffer is never overwritten under a
// pending write. The end of one side's input is passed on (end() after every queued byte) as a
// FIN, and the other direction keeps flowing (half-close); an error, or a close before the end,
// tears down both.
export const BRIDGE_SOURCE = String.raw`
const BRIDGE_SMALL = 64 * 1024
const BRIDGE_BUFFER = 1 << 20
const BRIDGE_POOL = 16
// Big buffers of finished connections, reused (no mmap/munmap and page faults per connection).
const bridgePool = []
function bridgeReader() {
  // A connection starts with 64 KiB per direction (most carry a request and an answer); a read that
  // fills it moves the direction to a 1 MiB buffer. allocUnsafe: pages are only resident once used.
  const r = { buf: Buffer.allocUnsafe(BRIDGE_SMALL), from: null, to: null, early: null, waiting: false }
  const resume = () => {
    if (!r.waiting) return
    r.waiting = false
    if (!r.from.destroyed) r.from.resume()
  }
  const grow = (n) => {
    if (n === r.buf.length && r.buf.length < BRIDGE_BUFFER) r.buf = bridgePool.pop() || Buffer.allocUnsafe(BRIDGE_BUFFER)
  }
  r.onread = { buffer: () => r.buf, callback: (n) => {
    const buf = r.buf
    if (r.to === null) {
      // Before the join (a forwarder reading its header): keep a copy; onEarly says whether to
      // read on (default: no, wait for the join).
      r.early = r.early ? Buffer.concat([r.early, buf.subarray(0, n)]) : Buffer.from(buf.subarray(0, n))
      return r.onEarly ? r.onEarly(r.early) : false
    }
    r.to.write(buf.subarray(0, n), resume)
    grow(n)
    if (r.to.writableLength === 0) return true   // taken whole by the kernel: buf is free again
    // Still referenced by the write: no read (into any buffer) until it completes.
    r.waiting = true
    return false
  } }
  return r
}

// Once both sockets have closed, no read or write can touch a reader's buffer any more.
function bridgeRelease(r) {
  if (r.buf.length === BRIDGE_BUFFER && bridgePool.length < BRIDGE_POOL) bridgePool.push(r.buf)
  r.buf = null
}

// A server's accepted socket cannot be given onread; its handle moves to one that can. The old
// wrapper is destroyed without a handle (so it closes nothing), which keeps the server's count.
function adoptAccepted(sock, reader) {
  const handle = sock._handle
  sock._handle = null
  sock.destroy()
  return new net.Socket({ handle, onread: reader.onread, allowHalfOpen: true, pauseOnCreate: true, readable: true, writable: true })
}

function bridgeJoin(a, ra, b, rb) {
  // A relay must not batch on its own: the endpoints' sockets already decide about Nagle, and a
  // relay that holds a small write until the previous one is acknowledged stalls write-write-read
  // exchanges on the peer's delayed ACK (~40 ms each). Bulk writes are large either way.
  // (On a unix socket this is a no-op.)
  a.setNoDelay(true)
  b.setNoDelay(true)
  const kill = () => { a.destroy(); b.destroy() }
  a.on('error', kill)
  b.on('error', kill)
  let open = 2
  const closed = () => { if (--open === 0) { bridgeRelease(ra); bridgeRelease(rb) } }
  a.once('close', () => { closed(); if (!a.readableEnded) b.destroy() })
  b.once('close', () => { closed(); if (!b.readableEnded) a.destroy() })
  a.once('end', () => b.end())
  b.once('end', () => a.end())
  ra.from = a; ra.to = b; rb.from = b; rb.to = a
  if (ra.early && ra.early.length) b.write(ra.early)
  if (rb.early && rb.early.length) a.write(rb.early)
  ra.early = rb.early = null
  a.resume()
  b.resume()
}
`
