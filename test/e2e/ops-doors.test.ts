// Operating boxd through the real doors: OpenSSH `ssh`, `ssh-keygen`-signed tokens and `curl`,
// against one app serving both. Audit completeness, secrets kept out of the database, users
// refused mid-session, /healthz and /metrics.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHttpServers, type HttpDoor } from '../../src/http/server.js'
import { startSshServer, type SshDoor } from '../../src/ssh/server.js'
import { createUser } from '../../src/auth/accounts.js'
import { makeApp, type TestApp } from '../helpers/app.js'
import { FakeDriver } from '../helpers/fake-driver.js'
import { boxdtoken, curl } from '../helpers/http.js'
import { makeKey, ptySsh, runSsh, type KeyFiles } from '../helpers/ssh.js'

let app: TestApp
let driver: FakeDriver
let ssh: SshDoor
let http: HttpDoor
let base: string
let admin: KeyFiles
let bob: KeyFiles

beforeAll(async () => {
  driver = new FakeDriver()
  app = makeApp({ driver, config: { sshPort: 0, httpPort: 0, listen: '127.0.0.1', metricsToken: 'metrics-secret-1234' } })
  app.clock.t = new Date() // tokens are signed against the real clock
  ssh = await startSshServer(app)
  http = await startHttpServers(app)
  base = `http://127.0.0.1:${http.ports.http}`
  admin = makeKey(app.dir, 'ed25519', 'admin')
  bob = makeKey(app.dir, 'ed25519', 'bob')
  createUser(app.services.store, app.clock, { email: 'admin@example.com', role: 'admin', keyText: admin.publicKey })
  createUser(app.services.store, app.clock, { email: 'bob@example.com', role: 'user', keyText: bob.publicKey })
})
afterAll(async () => {
  await http?.close()
  await ssh?.close()
  app?.cleanup()
})

const sshRun = (key: KeyFiles, cmd: string) => runSsh(ssh.port, key.path, [cmd])
const auditRows = () => app.services.store.auditDb.prepare('SELECT * FROM audit_log ORDER BY id').all() as Record<string, unknown>[]
/** The token is minted against the real clock; the app's fake clock must agree for exp/nbf. */
const token = (cmds: string[]) => {
  app.clock.t = new Date()
  return boxdtoken(JSON.stringify({ cmds }), bob.path)
}

describe('audit completeness across doors', () => {
  it('a call over SSH and one over HTTP are both recorded, with door, credential and address', async () => {
    const before = auditRows().length
    const s = await sshRun(bob, 'whoami --json')
    expect(s.code).toBe(0)
    const t = token(['whoami', 'audit'])
    const h = await curl(`${base}/exec`, { token: t, data: 'whoami' })
    expect(h.status).toBe(200)
    const rows = auditRows().slice(before)
    expect(rows.map((r) => [r.door, r.via, r.verb, r.code])).toEqual([['ssh', 'ssh-key', 'whoami', 'ok'], ['http', 'token', 'whoami', 'ok']])
    for (const r of rows) {
      expect(r).toMatchObject({ user_email: 'bob@example.com', key_fingerprint: bob.fingerprint })
      expect(String(r.remote_address)).toMatch(/127\.0\.0\.1$/)
      expect(String(r.request_id)).toMatch(/^[0-9a-f-]{36}$/)
    }
    expect(rows[1].request_id).toBe(h.headers['x-request-id'])
    // …and the user reads them back through either door.
    const a = await curl(`${base}/exec`, { token: t, data: 'audit --limit 2' })
    expect(a.json.entries.map((e: { door: string }) => e.door)).toEqual(['http', 'ssh'])
  })

  it('the token used at the door is nowhere in the database file afterwards', async () => {
    const t = token(['whoami', 'ssh-key add'])
    expect((await curl(`${base}/exec`, { token: t, data: 'whoami' })).status).toBe(200)
    // Pasted as an argument too: redacted in the audit row.
    await curl(`${base}/exec`, { token: t, data: `ssh-key add ${t}` })
    app.services.store.db.pragma('wal_checkpoint(TRUNCATE)')
    const bytes = Buffer.concat(['boxd.db', 'boxd.db-wal'].map((f) => { try { return readFileSync(join(app.dir, f)) } catch { return Buffer.alloc(0) } }))
    const signature = t.split('.')[2]
    expect(bytes.includes(t)).toBe(false)
    expect(bytes.includes(signature)).toBe(false)
  })
})

describe('a disabled user is refused at both doors, mid-session', () => {
  it('an open SSH lobby session and a live token both stop working at once', async () => {
    const term = await ptySsh(ssh.port, bob.path)
    try {
      await term.expect(/[$>#] ?$/m, { timeoutMs: 10_000 })
      let mark = term.mark()
      term.write('whoami\r')
      await term.expect(/bob@example\.com/, { from: mark })
      const t = token(['whoami'])
      expect((await curl(`${base}/exec`, { token: t, data: 'whoami' })).status).toBe(200)

      const d = await sshRun(admin, 'user disable bob@example.com')
      expect(d.code).toBe(0)

      mark = term.mark()
      term.write('whoami\r')
      await term.expect(/disabled, expired or removed/, { from: mark })
      const h = await curl(`${base}/exec`, { token: t, data: 'whoami' })
      expect(h.status).toBe(401)
      const again = await sshRun(bob, 'whoami')
      expect(again.code).not.toBe(0) // a new connection is refused at auth
    } finally {
      term.kill()
      await sshRun(admin, 'user enable bob@example.com')
    }
    expect((await sshRun(bob, 'whoami')).code).toBe(0)
  })
})

describe('/healthz and /metrics', () => {
  it('/healthz is ok with a working driver, 503 degraded without', async () => {
    const ok = await curl(`${base}/healthz`)
    expect(ok.status).toBe(200)
    expect(ok.json).toEqual({ status: 'ok', checks: { database: { status: 'ok' }, driver: { status: 'ok' } } })
    driver.checkError = 'engine unreachable'
    try {
      const bad = await curl(`${base}/healthz`)
      expect(bad.status).toBe(503)
      expect(bad.json).toMatchObject({ status: 'degraded', checks: { driver: { status: 'error' } } })
    } finally {
      driver.checkError = undefined
    }
  })

  it('/metrics needs the --metrics-token and counts calls per door', async () => {
    expect((await curl(`${base}/metrics`)).status).toBe(401)
    expect((await curl(`${base}/metrics`, { token: 'wrong' })).status).toBe(401)
    const m = await curl(`${base}/metrics`, { token: 'metrics-secret-1234' })
    expect(m.status).toBe(200)
    expect(m.body).toMatch(/boxd_verb_calls_total\{verb="whoami",door="ssh",code="ok"\} \d+/)
    expect(m.body).toMatch(/boxd_verb_calls_total\{verb="whoami",door="http",code="ok"\} \d+/)
  })
})
