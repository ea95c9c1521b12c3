// Test doubles for reaching machines: a driver whose connect() dials real loopback TCP servers
// the test started (one per machine port), an HTTP echo server that reports what it received,
// users with in-process keys, and machine tokens minted for them.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { createUser } from '../../src/auth/accounts.js'
import { publicKeyBlob, publicKeyText } from '../../src/auth/sshsig.js'
import { mintToken } from '../../src/auth/token.js'
import type { App } from '../../src/app.js'
import type { User } from '../../src/store/index.js'
import { FakeDriver } from '../helpers/fake-driver.js'

export class LoopbackDriver extends FakeDriver {
  /** machine port → 127.0.0.1 port of a server the test runs "inside" every machine */
  readonly targets = new Map<number, number>()
  connects = 0

  // @ts-expect-error FakeDriver's connect is typed as never-returning; this one returns streams
  override async connect(id: string, port: number): Promise<Duplex> {
    this.connects++
    if (!this.machines.get(id)?.running) throw new Error('machine is not running')
    const target = this.targets.get(port)
    if (target === undefined) throw new Error('connection refused')
    return new Promise((resolve, reject) => {
      const s = connect(target, '127.0.0.1')
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    })
  }
}

export interface Echo { port: number; server: Server; close(): Promise<void> }

/** Answers every request with JSON: method, url, headers, body length and sha256 (streamed). */
export async function startEcho(): Promise<Echo> {
  const server = createServer((req, res) => {
    const h = createHash('sha256')
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length; h.update(c) })
    req.on('end', () => {
      if (req.url?.startsWith('/big/')) return bigBody(res, Number(req.url.slice(5)))
      res.writeHead(200, { 'Content-Type': 'application/json', 'Set-Cookie': ['app=1; Path=/', '__Host-boxd-session=planted; Path=/; Secure'] })
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body_bytes: n, body_sha256: h.digest('hex') }))
    })
  })
  // A minimal WebSocket echo (RFC 6455): handshake, then every frame's payload sent back.
  const upgraded = new Set<Socket>()
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
    socket.once('end', () => socket.end())
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nno')
      return
    }
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Seen-Email: ${req.headers['x-boxd-email'] ?? '-'}\r\n\r\n`)
    let buf = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (let f = decodeFrame(buf); f; f = decodeFrame(buf)) {
        buf = buf.subarray(f.size)
        socket.write(encodeFrame(f.payload, false))
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as AddressInfo).port, server, close: () => new Promise((r) => { for (const s of upgraded) s.destroy(); server.closeAllConnections(); server.close(() => r()) }) }
}

function bigBody(res: import('node:http').ServerResponse, bytes: number) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
  const chunk = Buffer.alloc(64 * 1024, 7)
  let left = bytes
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length)
      left -= n
      if (!res.write(chunk.subarray(0, n))) return void res.once('drain', pump)
    }
    res.end()
  }
  pump()
}

/** A raw TCP echo server (the "machine" side of port forwards). */
export async function startTcpEcho(opts: { paused?: boolean } = {}): Promise<{ port: number; server: TcpServer; sockets: Socket[]; close(): Promise<void> }> {
  const sockets: Socket[] = []
  const server = createTcpServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s)
    s.on('error', () => {})
    if (opts.paused) s.pause()
    else s.pipe(s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as AddressInfo).port, server, sockets, close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) }) }
}

export interface KeyedUser { user: User; key: KeyObject }

/** A user whose one registered key is an in-process ed25519 key (tokens minted with mintToken). */
export function keyedUser(app: App, email: string, role: 'admin' | 'user' = 'user'): KeyedUser {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const user = createUser(app.services.store, app.services.clock, { email, role, keyText: `${publicKeyText(publicKeyBlob(publicKey))} ${email}` })
  return { user, key: privateKey }
}

/** A token signed for v0@<domain>: pass `<machine>.<domain>` for a machine token. */
export function tokenFor(u: KeyedUser, domain: string, payload = '{}'): string {
  return mintToken(payload, u.key, `v0@${domain}`)
}

// ---- a minimal WebSocket client ----

export function encodeFrame(payload: Buffer, masked: boolean): Buffer {
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x82, (masked ? 0x80 : 0) | len]) : Buffer.from([0x82, (masked ? 0x80 : 0) | 126, len >> 8, len & 255])
  if (!masked) return Buffer.concat([head, payload])
  const mask = Buffer.from([1, 2, 3, 4])
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))])
}

export function decodeFrame(buf: Buffer): { payload: Buffer; size: number } | undefined {
  if (buf.length < 2) return undefined
  const masked = (buf[1] & 0x80) !== 0
  let len = buf[1] & 0x7f
  let off = 2
  if (len === 126) { if (buf.length < 4) return undefined; len = buf.readUInt16BE(2); off = 4 }
  const maskAt = off
  if (masked) off += 4
  if (buf.length < off + len) return undefined
  let payload = buf.subarray(off, off + len)
  if (masked) payload = Buffer.from(payload.map((b, i) => b ^ buf[maskAt + (i % 4)]))
  return { payload, size: off + len }
}

/** Opens a WebSocket through `port` with Host `host`; resolves with the handshake head and an echo function. */
export function wsConnect(port: number, host: string, headers: Record<string, string> = {}, o: { tls?: boolean } = {}): Promise<{ head: string; socket: Socket; echo(msg: string): Promise<string> }> {
  return new Promise((resolve, reject) => {
    // Self-signed test certificate: the test checks the proxy, not the PKI.
    const socket = o.tls ? tlsConnect({ port, host: '127.0.0.1', servername: host.replace(/:\d+$/, ''), rejectUnauthorized: false }) : connect(port, '127.0.0.1')
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
    socket.write(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`)
    let buf = Buffer.alloc(0)
    let head: string | undefined
    let waiter: ((s: string) => void) | undefined
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (head === undefined) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        head = buf.subarray(0, end).toString('latin1')
        buf = buf.subarray(end + 4)
        resolve({ head, socket, echo: (msg) => new Promise((r) => { waiter = r; socket.write(encodeFrame(Buffer.from(msg), true)) }) })
      }
      const f = decodeFrame(buf)
      if (f && waiter) { buf = buf.subarray(f.size); const w = waiter; waiter = undefined; w(f.payload.toString()) }
    })
    socket.on('error', reject)
    socket.on('end', () => { if (head === undefined) resolve({ head: buf.toString('latin1'), socket, echo: async () => '' }) })
  })
}

/**
 * Milliseconds for 20 write-write-read exchanges through a forward at `port` (client with
 * TCP_NODELAY). A hop that leaves Nagle on stalls each exchange on the peer's delayed ACK (~40 ms).
 * Every answer is awaited at most 5 s.
 */
export async function writeWriteReadMs(port: number): Promise<number> {
  const s = connect(port, '127.0.0.1')
  try {
    await new Promise((res, rej) => { s.once('connect', res); s.once('error', rej) })
    s.setNoDelay(true)
    const t0 = performance.now()
    for (let i = 0; i < 20; i++) {
      const answered = new Promise((res) => s.once('data', res))
      s.write('ab')
      await new Promise((res) => setTimeout(res, 1))
      s.write('cd')
      await Promise.race([answered, new Promise((_, rej) => setTimeout(() => rej(new Error('no answer within 5 s')), 5000).unref())])
    }
    return performance.now() - t0
  } finally {
    s.destroy()
  }
}
