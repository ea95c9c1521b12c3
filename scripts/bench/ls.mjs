// ls_1000_p50_ms: `POST /exec ls --json` for a user with 1,000 machine rows, against the real
// `boxd serve` binary in its own process (plain HTTP door, default log level, the audit trail on),
// one keep-alive connection, one request at a time, timed by this process from request write to
// the last body byte. The rows are inserted straight into SQLite before the server starts (no
// driver work: ls reads the store only; the rows are `stopped`, so reconciliation leaves them be).
// Same-run baseline: `POST /exec whoami` with the same token on the same connection, alternating.
//   ls_1000_p50_ms (goal ≤ 15), ls_1000_p99_ms, ls_whoami_p50_ms, ls_1000_vs_whoami (p50 ÷ p50).
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { NO_RATE_LIMITS, median, percentile, startServe } from './boxd-process.mjs'

const dist = new URL('../../dist/src/', import.meta.url)
const { createApp, resolveConfig } = await import(new URL('app.js', dist))
const { createUser } = await import(new URL('auth/accounts.js', dist))
const { publicKeyBlob, publicKeyText } = await import(new URL('auth/sshsig.js', dist))
const { mintToken } = await import(new URL('auth/token.js', dist))

export const title = 'POST /exec ls --json with 1,000 machine rows (real binary), vs whoami on the same connection'

const ROWS = 1000

/** The data dir: a user, 1,000 machine rows of theirs (inserted with SQL), and a token. */
function prepare(dataDir) {
  const app = createApp(resolveConfig({ dataDir }), { log: pino({ level: 'silent' }) })
  try {
    const { privateKey } = generateKeyPairSync('ed25519')
    const user = createUser(app.services.store, app.services.clock, { email: 'ls@bench.example', role: 'user', keyText: `${publicKeyText(publicKeyBlob(privateKey))} bench` })
    const insert = app.services.store.db.prepare(`INSERT INTO machines (id, name, user_id, driver, image, desired, status, status_reason, spec, tags, comment, proxy_port, created_at, started_at, updated_at)
      VALUES (?, ?, ?, 'sandbox', 'host', 'stopped', 'stopped', NULL, ?, ?, ?, 8000, ?, NULL, ?)`)
    const t = Date.parse('2026-01-01T00:00:00Z')
    app.services.store.db.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const at = new Date(t + i * 60_000).toISOString()
        insert.run(`m_bench${String(i).padStart(11, '0')}`, `web${i}x`, user.id, JSON.stringify({ env: {}, network: 'none' }),
          JSON.stringify(i % 3 ? ['bench'] : ['bench', 'prod']), i % 10 ? '' : `machine ${i}`, at, at)
      }
    })()
    const exp = Math.floor(Date.now() / 1000) + 3600
    return mintToken(`{"exp":${exp},"cmds":["ls","whoami"]}`, privateKey, app.services.tokens.namespace)
  } finally {
    app.close()
  }
}

export async function run({ quick, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-ls-'))
  const dataDir = join(dir, 'data')
  const token = prepare(dataDir)
  const server = await startServe(dataDir, NO_RATE_LIMITS)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const post = (line) => new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const req = request({ host: '127.0.0.1', port: server.httpPort, method: 'POST', path: '/exec', agent, headers: { Authorization: `Bearer ${token}`, 'Content-Length': Buffer.byteLength(line) } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6
        const body = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode !== 200) reject(new Error(`${line}: HTTP ${res.statusCode} ${body.slice(0, 200)}`))
        else resolve({ ms, body })
      })
    })
    req.on('error', reject)
    req.end(line)
  })
  try {
    const first = await post('ls --json')
    const n = JSON.parse(first.body).machines.length
    if (n !== ROWS) throw new Error(`ls listed ${n} machines, expected ${ROWS}`)
    for (let i = 0; i < 30; i++) { await post('ls --json'); await post('whoami') } // warm-up: JIT, statement caches
    const rounds = quick ? 200 : 1000
    const ls = []
    const whoami = []
    for (let i = 0; i < rounds; i++) {
      ls.push((await post('ls --json')).ms)
      whoami.push((await post('whoami')).ms)
    }
    log(`   ls --json (${ROWS} rows, ${(first.body.length / 1024).toFixed(0)} KiB): p50 ${median(ls).toFixed(2)} ms, p99 ${percentile(ls, 99).toFixed(2)} ms; whoami p50 ${median(whoami).toFixed(2)} ms (${rounds} each, alternating)`)
    return {
      ls_1000_p50_ms: median(ls),
      ls_1000_p99_ms: percentile(ls, 99),
      ls_whoami_p50_ms: median(whoami),
      ls_1000_vs_whoami: median(ls) / median(whoami),
    }
  } finally {
    agent.destroy()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
