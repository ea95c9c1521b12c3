// http_exec_vs_bare_hono: POST /exec whoami (a valid token, the same one each time) req/s ÷ a
// bare hono route on the same server (same process, same @hono/node-server adapter, same port)
// that returns the same JSON without auth, limits or dispatch. Load comes from autocannon in a
// separate process, same concurrency, alternating runs. Goal ≥ 0.6.
// http_load_*: 10,000 /exec calls at concurrency 64 (rate limits raised for the bench): p50/p99
// latency and every non-2xx or transport error counted.
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'

const dist = new URL('../../dist/src/', import.meta.url)
const { createApp, resolveConfig } = await import(new URL('app.js', dist))
const { createUser } = await import(new URL('auth/accounts.js', dist))
const { publicKeyBlob, publicKeyText } = await import(new URL('auth/sshsig.js', dist))
const { mintToken } = await import(new URL('auth/token.js', dist))
const { createHttpApp } = await import(new URL('http/app.js', dist))
const { createAdaptorServer } = await import('@hono/node-server')

const autocannon = createRequire(import.meta.url).resolve('autocannon/autocannon.js')

export const title = 'POST /exec whoami vs a bare hono route; 10,000-call load at concurrency 64'

function cannon(args, log) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [autocannon, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { err += c })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`))
      try { resolve(JSON.parse(out)) } catch (e) { log(err.slice(-500)); reject(e) }
    })
  })
}

export async function run({ quick, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-http-'))
  // A real logger at the door's level, writing to /dev/null: the door's access line is part of its cost.
  const app = createApp(resolveConfig({ dataDir: dir, rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 } }), { log: pino({ level: 'info' }, pino.destination('/dev/null')) })
  const { privateKey } = generateKeyPairSync('ed25519')
  const user = createUser(app.services.store, app.services.clock, { email: 'bench@example.com', role: 'user', keyText: `${publicKeyText(publicKeyBlob(privateKey))} bench` })
  const token = mintToken(`{"exp":${Math.floor(Date.now() / 1000) + 3600},"cmds":["whoami"]}`, privateKey, app.services.tokens.namespace)

  const hono = createHttpApp(app)
  // The baseline: what whoami returns, precomputed, on the same app and server.
  const principal = app.services.tokens.authenticate(token)
  const whoami = (await app.dispatcher.dispatch({ line: 'whoami', principal, door: 'http', forceJson: true })).body
  hono.post('/bare', (c) => c.json(whoami))
  // Diagnostic: the door alone (token, limiter, body, deadline, reply) in front of a dispatcher
  // that returns the precomputed whoami outcome, to separate the door's cost from the verb's.
  const outcome = await app.dispatcher.dispatch({ line: 'whoami', principal, door: 'http', forceJson: true })
  hono.route('/door', createHttpApp({ services: app.services, dispatcher: { dispatch: async () => outcome } }))
  const server = createAdaptorServer({ fetch: hono.fetch })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${server.address().port}`
  void user

  try {
    const seconds = quick ? 4 : 10
    const conns = 32
    const common = ['-c', String(conns), '-d', String(seconds), '-m', 'POST', '-b', 'whoami', '-H', `Authorization=Bearer ${token}`]
    // Warm both paths (JIT, connection setup) before measuring.
    await cannon([...common.slice(0, 2), '-d', '1', ...common.slice(4), `${base}/exec`], log)
    await cannon([...common.slice(0, 2), '-d', '1', ...common.slice(4), `${base}/bare`], log)
    const rounds = quick ? 1 : 2
    const observers = app.services.observers
    const all = [...observers]
    // Diagnostic: the same server without the audit trail's per-request insert (a synchronous
    // SQLite commit to audit.db, WAL, synchronous=NORMAL), to separate the door's own cost from
    // the audit's.
    const noAudit = all.filter((o) => o.constructor?.name !== 'AuditRecorder')
    let execRps = 0
    let execNoAuditRps = 0
    let bareRps = 0
    let doorRps = 0
    for (let i = 0; i < rounds; i++) {
      observers.splice(0, observers.length, ...all)
      const e = await cannon([...common, `${base}/exec`], log)
      const b = await cannon([...common, `${base}/bare`], log)
      observers.splice(0, observers.length, ...noAudit)
      const n = await cannon([...common, `${base}/exec`], log)
      observers.splice(0, observers.length, ...all)
      const d = await cannon([...common, `${base}/door/exec`], log)
      doorRps += d.requests.average
      for (const r of [e, n, d]) if (r.non2xx || r.errors) throw new Error(`/exec had ${r.non2xx} non-2xx and ${r.errors} errors`)
      execRps += e.requests.average
      execNoAuditRps += n.requests.average
      bareRps += b.requests.average
      log(`   round ${i + 1}: /exec ${Math.round(e.requests.average)} req/s (without audit ${Math.round(n.requests.average)}, door alone ${Math.round(d.requests.average)}), bare hono ${Math.round(b.requests.average)} req/s (c=${conns}, ${seconds} s each)`)
    }
    const ratio = execRps / bareRps

    const load = await cannon(['-c', '64', '-a', '10000', '-m', 'POST', '-b', 'whoami', '-H', `Authorization=Bearer ${token}`, `${base}/exec`], log)
    const errors = (load.errors ?? 0) + (load.timeouts ?? 0) + (load.non2xx ?? 0)
    log(`   load: ${load['2xx']} ok of ${load.requests.sent ?? 10000} sent, p50 ${load.latency.p50} ms, p99 ${load.latency.p99} ms, errors ${errors}`)
    return {
      http_exec_vs_bare_hono: ratio,
      http_exec_no_audit_vs_bare_hono: execNoAuditRps / bareRps,
      http_door_only_vs_bare_hono: doorRps / bareRps,
      http_exec_rps: execRps / rounds,
      http_bare_hono_rps: bareRps / rounds,
      http_load_p50_ms: load.latency.p50,
      http_load_p99_ms: load.latency.p99,
      http_load_errors: errors,
    }
  } finally {
    await new Promise((r) => { server.close(r); server.closeAllConnections() })
    app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
