// One HTTP/1.1 request to 127.0.0.1 with a chosen Host header (the proxy routes by Host).
import { request } from 'node:http'
import type { Readable } from 'node:stream'

export interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string; json: any }

export function send(port: number, host: string, o: { path?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer | Readable } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: o.path ?? '/', method: o.method ?? (o.body ? 'POST' : 'GET'), headers: { Host: host, ...o.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try { json = JSON.parse(body) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (o.body === undefined) req.end()
    else if (typeof o.body === 'string' || Buffer.isBuffer(o.body)) req.end(o.body)
    else o.body.pipe(req)
  })
}
