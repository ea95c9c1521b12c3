// Load: 10,000 `POST /exec whoami` at concurrency 64 over loopback, against the real `boxd serve`
// in its own process, with a real token (ssh-keygen -Y sign via scripts/boxd-token.sh). The hourly
// rate limit is set to 5,000 so both paths run: exactly the quota (plus what the bucket refills
// during the run) succeeds, every other reply is a documented 429. Anything else — a transport
// error, a 5xx, a wrong body — fails. p50/p99 are printed, for the 200s and for all replies.
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { boxdtoken } from '../helpers/http.js'
import { makeKey, type KeyFiles } from '../helpers/ssh.js'
import { startServe, type ServeProcess } from '../helpers/serve.js'

const N = 10_000
const CONCURRENCY = 64
const PER_HOUR = 5_000
const DEADLINE_MS = 45_000

interface Reply { status: number; ms: number; body: string; retryAfter?: string }

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

describe('http load (real binary, loopback)', () => {
  let dir: string
  let server: ServeProcess
  let key: KeyFiles

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'boxd-http-load-'))
    key = makeKey(dir, 'ed25519', 'load')
    server = await startServe({
      dataDir: join(dir, 'data'), admin: { key, email: 'load@example.com' },
      args: ['--rate-limit-per-minute', '0', '--rate-limit-mutating-per-minute', '0', '--rate-limit-per-hour', String(PER_HOUR)],
    })
  })
  afterAll(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`${N} POST /exec whoami at concurrency ${CONCURRENCY}: 0 errors but the configured 429s, the quota holds exactly`, async () => {
    const token = boxdtoken('{"cmds":["whoami"]}', key.path)
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
    const post = () => new Promise<Reply>((resolveP, reject) => {
      const t0 = performance.now()
      const req = request({ host: '127.0.0.1', port: server.httpPort, method: 'POST', path: '/exec', agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain', 'Content-Length': '6' } }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { body += c })
        res.on('end', () => resolveP({ status: res.statusCode ?? 0, ms: performance.now() - t0, body, retryAfter: res.headers['retry-after'] }))
        res.on('error', reject)
      })
      req.setTimeout(20_000, () => req.destroy(new Error('request timed out')))
      req.on('error', reject)
      req.end('whoami')
    })

    const started = performance.now()
    let issued = 0
    const all: number[] = []
    const ok: number[] = []
    let limited = 0
    const errors: string[] = []
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (issued < N && performance.now() - started < DEADLINE_MS) {
        issued++
        try {
          const r = await post()
          all.push(r.ms)
          if (r.status === 200 && JSON.parse(r.body).email === 'load@example.com') ok.push(r.ms)
          else if (r.status === 429 && JSON.parse(r.body).code === 'rate_limited' && Number(r.retryAfter) > 0) limited++
          else errors.push(`${r.status} ${r.body.slice(0, 200)}`)
        } catch (e) {
          errors.push(String(e))
        }
      }
    }))
    const seconds = (performance.now() - started) / 1000
    agent.destroy()
    all.sort((a, b) => a - b)
    ok.sort((a, b) => a - b)
    const f = (x: number) => x.toFixed(1)
    console.log(`[http-load] ${all.length} replies in ${seconds.toFixed(1)} s (${Math.round(all.length / seconds)}/s, c=${CONCURRENCY}): ${ok.length} × 200, ${limited} × 429, ${errors.length} errors; `
      + `200s p50 ${f(pct(ok, 50))} ms p99 ${f(pct(ok, 99))} ms; all p50 ${f(pct(all, 50))} ms p99 ${f(pct(all, 99))} ms`)
    expect(errors.slice(0, 5), `${errors.length} errors`).toEqual([])
    expect(all.length).toBe(N)
    // The hourly bucket: its quota, plus its continuous refill over the run, and not one more.
    expect(ok.length).toBeGreaterThanOrEqual(PER_HOUR)
    expect(ok.length).toBeLessThanOrEqual(PER_HOUR + Math.ceil((PER_HOUR * seconds) / 3600) + 1)
    expect(limited).toBe(N - ok.length)
    expect(server.child.exitCode).toBeNull()
  }, 90_000)
})
