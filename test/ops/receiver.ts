// An independent webhook receiver on 127.0.0.1: records every request and verifies signatures
// itself (the README's recipe), without any boxd code.
import { createHmac, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  headers: http.IncomingHttpHeaders
  body: string
  method: string
  url: string
}

export interface Receiver {
  port: number
  url: string
  received: Received[]
  /** Status to answer with (default 200). */
  status: number
  close(): Promise<void>
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const received: Received[] = []
  const r = { status: 200 } as Receiver
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), method: req.method ?? '', url: req.url ?? '' })
      res.writeHead(r.status).end('thanks')
    })
  })
  await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(port, '127.0.0.1', () => res()) })
  const actual = (server.address() as AddressInfo).port
  return Object.assign(r, {
    port: actual,
    url: `http://127.0.0.1:${actual}/hook`,
    received,
    close: () => new Promise<void>((res) => { server.closeAllConnections(); server.close(() => res()) }),
  })
}

/** The receiver side of X-Boxd-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>. */
export function verifySignature(secret: string, header: string | undefined, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '')
  if (!m) return false
  if (Math.abs(nowSeconds - Number(m[1])) > toleranceSeconds) return false
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest()
  return timingSafeEqual(expected, Buffer.from(m[2], 'hex'))
}

/** Poll until fn() is truthy or the deadline passes. */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
