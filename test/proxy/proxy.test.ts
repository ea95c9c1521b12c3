// The machine HTTPS proxy through the real HTTP door (plain HTTP listener, loopback), with a
// driver whose connect() reaches a real echo server: every test is an attack it blocks or a
// promise it keeps to the machine.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startHttpServers, type HttpDoor } from '../../src/http/server.js'
import { makeApp, run, type TestApp } from '../helpers/app.js'
import type { User } from '../../src/store/index.js'
import { keyedUser, LoopbackDriver, startEcho, tokenFor, wsConnect, type Echo, type KeyedUser } from './helpers.js'
import { send } from './http-client.js'

const D = 'boxd.localhost'
const WEB = `web.${D}`
let app: TestApp
let driver: LoopbackDriver
let door: HttpDoor
let echo: Echo
let alice: KeyedUser
let bob: KeyedUser
let port: number

const ok = async (u: User, line: string) => {
  const o = await run(app, u, `${line} --json`)
  if (!o.ok) throw new Error(`${line}: ${o.stderr}`)
  return JSON.parse(o.stdout)
}
const get = (host: string, o: Parameters<typeof send>[2] = {}) => send(port, host, o)
const bearer = (t: string) => ({ 'X-Boxd-Authorization': `Bearer ${t}` })

beforeEach(async () => {
  driver = new LoopbackDriver()
  app = makeApp({ driver, config: { domain: D, httpPort: 0, listen: '127.0.0.1' } })
  echo = await startEcho()
  driver.targets.set(8000, echo.port)
  driver.targets.set(3000, echo.port)
  alice = keyedUser(app, 'alice@example.com')
  bob = keyedUser(app, 'bob@example.com')
  await ok(alice.user, 'new --name=web')
  door = await startHttpServers(app)
  port = door.ports.http!
})
afterEach(async () => {
  await door.close()
  await echo.close()
  app.cleanup()
})

describe('routing by Host', () => {
  it('other hosts still reach the API', async () => {
    expect((await get(D, { path: '/healthz' })).status).toBe(200)
    // Two labels under the domain are not a machine: the API answers (its JSON 404).
    const r = await get(`a.web.${D}`, { path: '/x' })
    expect([r.status, r.json?.code]).toEqual([404, 'not_found'])
    expect(driver.connects).toBe(0)
  })
  it('/exec on a machine hostname goes to the machine, never to the API dispatcher', async () => {
    const t = tokenFor(alice, WEB)
    const r = await get(WEB, { path: '/exec', method: 'POST', body: 'rm web', headers: bearer(t) })
    expect(r.json.url).toBe('/exec')
    expect((await run(app, alice.user, 'ls --json')).stdout).toContain('"web"')
  })
})

describe('private by default', () => {
  it('no credentials → 401 JSON for curl, with a Basic challenge for git', async () => {
    const r = await get(WEB)
    expect(r.status).toBe(401)
    expect(r.json).toMatchObject({ code: 'unauthenticated' })
    expect(String(r.headers['www-authenticate'])).toMatch(/Basic realm="web\.boxd\.localhost"/)
    expect(driver.connects).toBe(0)
  })
  it('no credentials, browser → 401 HTML page saying how to get in', async () => {
    const r = await get(WEB, { headers: { Accept: 'text/html,application/xhtml+xml' } })
    expect(r.status).toBe(401)
    expect(r.headers['content-type']).toMatch(/text\/html/)
    expect(r.body).toContain('browser web')
    expect(r.body).toContain('X-Boxd-Authorization')
  })
  it('a machine that does not exist answers like a private one (names cannot be probed)', async () => {
    const a = await get(`ghost.${D}`)
    const b = await get(WEB)
    expect([a.status, a.json.code]).toEqual([b.status, b.json.code])
  })
})

describe('machine tokens', () => {
  it('X-Boxd-Authorization → 200; path, query and identity reach the machine; the token does not', async () => {
    const t = tokenFor(alice, WEB, '{"ctx":{"app":"ci","n":"é"}}')
    const r = await get(WEB, { path: '/a/b?c=1&d=%20', headers: bearer(t) })
    expect(r.status).toBe(200)
    expect(r.json.url).toBe('/a/b?c=1&d=%20')
    const h = r.json.headers
    expect(h['x-boxd-user-id']).toBe(alice.user.id)
    expect(h['x-boxd-email']).toBe('alice@example.com')
    expect(JSON.parse(h['x-boxd-token-ctx'])).toEqual({ app: 'ci', n: 'é' })
    expect(h['x-boxd-authorization']).toBeUndefined()
    expect(h['x-forwarded-for']).toBe('127.0.0.1')
    expect(h['x-forwarded-proto']).toBe('http')
    expect(h['x-forwarded-host']).toBe(WEB)
    expect(h.host).toBe(WEB)
  })
  it('Authorization: Bearer → 200, and the header is not forwarded', async () => {
    const r = await get(WEB, { headers: { Authorization: `Bearer ${tokenFor(alice, WEB)}` } })
    expect(r.status).toBe(200)
    expect(r.json.headers.authorization).toBeUndefined()
    expect(r.json.headers['x-boxd-email']).toBe('alice@example.com')
  })
  it('HTTP Basic with the token as password (git) → 200, and the header is not forwarded', async () => {
    const basic = Buffer.from(`git:${tokenFor(alice, WEB)}`).toString('base64')
    const r = await get(WEB, { headers: { Authorization: `Basic ${basic}` } })
    expect(r.status).toBe(200)
    expect(r.json.headers.authorization).toBeUndefined()
  })
  it('rejects an API token (namespace v0@<domain>) at the machine proxy', async () => {
    const r = await get(WEB, { headers: bearer(tokenFor(alice, D)) })
    expect(r.status).toBe(401)
    expect(r.json.error).toMatch(/API token is not accepted/)
    expect(driver.connects).toBe(0)
  })
  it('rejects a boxd1 handle (an API credential) and never forwards it', async () => {
    const r = await get(WEB, { headers: { Authorization: `Bearer boxd1.${'a'.repeat(32)}` } })
    expect(r.status).toBe(401)
    expect(driver.connects).toBe(0)
  })
  it('rejects a token signed for another machine', async () => {
    await ok(alice.user, 'new --name=db')
    const r = await get(WEB, { headers: bearer(tokenFor(alice, `db.${D}`)) })
    expect(r.status).toBe(401)
  })
  it('rejects another user\'s token for this machine as not_found (never forbidden)', async () => {
    const r = await get(WEB, { headers: bearer(tokenFor(bob, WEB)) })
    expect([r.status, r.json.code]).toEqual([404, 'not_found'])
    expect(driver.connects).toBe(0)
  })
  it('rejects a token whose machines caveat excludes this machine', async () => {
    const r = await get(WEB, { headers: bearer(tokenFor(alice, WEB, '{"machines":["db*"]}')) })
    expect(r.status).toBe(404)
    expect((await get(WEB, { headers: bearer(tokenFor(alice, WEB, '{"machines":["w*"]}')) })).status).toBe(200)
  })
  it('cmds does not apply to machine tokens; exp and nbf do', async () => {
    const now = Math.floor(app.clock.now().getTime() / 1000)
    expect((await get(WEB, { headers: bearer(tokenFor(alice, WEB, '{"cmds":[]}')) })).status).toBe(200)
    expect((await get(WEB, { headers: bearer(tokenFor(alice, WEB, `{"exp":${now - 1}}`)) })).status).toBe(401)
    expect((await get(WEB, { headers: bearer(tokenFor(alice, WEB, `{"nbf":${now + 60}}`)) })).status).toBe(401)
  })
  it('removing the signing key revokes machine tokens at once', async () => {
    const t = tokenFor(alice, WEB)
    expect((await get(WEB, { headers: bearer(t) })).status).toBe(200)
    const fp = app.services.store.keys.listForUser(alice.user.id)[0].fingerprint
    app.services.store.keys.markRemoved(app.services.store.keys.findActive(fp)!.id, app.clock.now())
    expect((await get(WEB, { headers: bearer(t) })).status).toBe(401)
  })
  it('a malformed X-Boxd-Authorization is refused, not ignored', async () => {
    expect((await get(WEB, { headers: { 'X-Boxd-Authorization': 'Token abc' } })).status).toBe(401)
  })
  it('rejects machine tokens at /exec (the API door)', async () => {
    const r = await get(D, { path: '/exec', method: 'POST', body: 'whoami', headers: { Authorization: `Bearer ${tokenFor(alice, WEB)}` } })
    expect(r.status).toBe(401)
  })
})

describe('spoofing', () => {
  it('a spoofed X-Boxd-Email never reaches the machine (with a token, the real one does)', async () => {
    const spoof = { 'X-Boxd-Email': 'ceo@example.com', 'X-Boxd-User-Id': 'usr_evil', 'x-boxd-token-ctx': '{"admin":true}' }
    const r = await get(WEB, { headers: { ...spoof, ...bearer(tokenFor(alice, WEB)) } })
    expect(r.json.headers['x-boxd-email']).toBe('alice@example.com')
    expect(r.json.headers['x-boxd-user-id']).toBe(alice.user.id)
    expect(r.json.headers['x-boxd-token-ctx']).toBeUndefined()
  })
  it('a spoofed X-Boxd-Email never reaches the machine (public, anonymous)', async () => {
    await ok(alice.user, 'share set-public web')
    const r = await get(WEB, { headers: { 'X-Boxd-Email': 'ceo@example.com', 'X-BOXD-USER-ID': 'x' } })
    expect(r.status).toBe(200)
    expect(Object.keys(r.json.headers).filter((k) => k.startsWith('x-boxd-'))).toEqual([])
  })
  it('spoofed X-Forwarded-For / Forwarded are replaced by the real peer', async () => {
    await ok(alice.user, 'share set-public web')
    const r = await get(WEB, { headers: { 'X-Forwarded-For': '8.8.8.8', Forwarded: 'for=8.8.8.8', 'X-Forwarded-Proto': 'https' } })
    expect(r.json.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(r.json.headers['x-forwarded-proto']).toBe('http')
    expect(r.json.headers.forwarded).toBeUndefined()
  })
  it('a machine cannot plant the boxd session cookie in a visitor\'s browser', async () => {
    await ok(alice.user, 'share set-public web')
    const r = await get(WEB)
    expect(r.headers['set-cookie']).toEqual(['app=1; Path=/'])
  })
  it('a declined upgrade never becomes a raw tunnel that skips the header checks', async () => {
    await ok(alice.user, 'share set-public web')
    const { connect } = await import('node:net')
    const text = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1')
      let out = ''
      s.on('data', (d) => { out += d.toString() })
      s.on('close', () => resolve(out))
      // The echo declines this upgrade with keep-alive; a second request follows on the same bytes.
      s.write(`GET / HTTP/1.1\r\nHost: ${WEB}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /second HTTP/1.1\r\nHost: ${WEB}\r\nX-Boxd-Email: ceo@example.com\r\n\r\n`)
    })
    expect(text).toMatch(/^HTTP\/1.1 400/)
    expect(text).not.toContain('ceo@example.com')
    expect(text).not.toContain('/second')
  })
})

describe('public ports, per-port hostnames, proxy port', () => {
  it('public → 200 without credentials, and without identity', async () => {
    expect((await ok(alice.user, 'share set-public web')).public).toBe(true)
    const r = await get(WEB)
    expect(r.status).toBe(200)
    expect(r.json.headers['x-boxd-email']).toBeUndefined()
  })
  it('public + a valid token → identity headers too', async () => {
    await ok(alice.user, 'share set-public web')
    expect((await get(WEB, { headers: bearer(tokenFor(alice, WEB)) })).json.headers['x-boxd-email']).toBe('alice@example.com')
  })
  it('public + a bad token → 401 (an explicit credential that fails is never ignored)', async () => {
    await ok(alice.user, 'share set-public web')
    expect((await get(WEB, { headers: bearer(tokenFor(bob, D)) })).status).toBe(401)
  })
  it('the app\'s own Authorization header passes through', async () => {
    await ok(alice.user, 'share set-public web')
    const r = await get(WEB, { headers: { Authorization: 'Bearer app-jwt' } })
    expect(r.json.headers.authorization).toBe('Bearer app-jwt')
  })
  it('<m>-<port>.<domain> reaches that port, with its own flag', async () => {
    const p3000 = `web-3000.${D}`
    expect((await get(p3000)).status).toBe(401)
    await ok(alice.user, 'share set-public web --port 3000')
    expect((await get(p3000)).status).toBe(200)
    expect((await get(WEB)).status).toBe(401) // port 8000 is still private
    expect((await get(`web-4000.${D}`, { headers: bearer(tokenFor(alice, WEB)) })).status).toBe(502) // nothing listens there
    await ok(alice.user, 'share set-private web --port 3000')
    expect((await get(p3000)).status).toBe(401)
  })
  it('share port moves <m>.<domain>; the new port is private until made public', async () => {
    await ok(alice.user, 'share set-public web')
    driver.targets.delete(8000)
    const v = await ok(alice.user, 'share port web 3000')
    expect(v).toMatchObject({ proxy_port: 3000, public: false })
    expect((await get(WEB)).status).toBe(401)
    expect((await get(WEB, { headers: bearer(tokenFor(alice, WEB)) })).status).toBe(200)
  })
  it('a stopped machine → 503; nothing listening → 502', async () => {
    const t = tokenFor(alice, WEB)
    driver.targets.delete(8000)
    const r = await get(WEB, { headers: bearer(t) })
    expect([r.status, r.json.code]).toEqual([502, 'failed'])
    await ok(alice.user, 'stop web')
    expect((await get(WEB, { headers: bearer(t) })).status).toBe(503)
  })
})

describe('sharing', () => {
  it('a shared user\'s token → 200 with their identity; after share remove → not_found', async () => {
    const t = tokenFor(bob, WEB)
    expect((await get(WEB, { headers: bearer(t) })).status).toBe(404)
    const v = await ok(alice.user, 'share add web Bob@Example.com')
    expect(v.shared_with.map((s: { email: string }) => s.email)).toEqual(['bob@example.com'])
    const r = await get(WEB, { headers: bearer(t) })
    expect(r.status).toBe(200)
    expect(r.json.headers['x-boxd-email']).toBe('bob@example.com')
    await ok(alice.user, 'share remove web bob@example.com')
    expect((await get(WEB, { headers: bearer(t) })).status).toBe(404)
  })
  it('a share grants no verbs: the sharee cannot port open, share or stop the machine', async () => {
    await ok(alice.user, 'share add web bob@example.com')
    for (const line of ['port open web 80', 'share show web', 'share set-public web', 'stop web', 'port ls web']) {
      expect((await run(app, bob.user, line)).error?.code, line).toBe('not_found')
    }
  })
  it('a disabled sharee is refused at once', async () => {
    await ok(alice.user, 'share add web bob@example.com')
    app.services.store.db.prepare("UPDATE users SET status = 'disabled' WHERE id = ?").run(bob.user.id)
    expect((await get(WEB, { headers: bearer(tokenFor(bob, WEB)) })).status).toBe(401)
  })
})

describe('browser sign-in', () => {
  const cookieOf = (r: { headers: Record<string, unknown> }) => String((r.headers['set-cookie'] as string[])[0])
  const pathOf = (url: string) => { const u = new URL(url); return `${u.pathname}${u.search}` }

  it('magic link → HttpOnly host-only cookie → identity; the cookie never reaches the machine; logout ends it', async () => {
    const link = await ok(alice.user, 'browser web')
    expect(link.url).toMatch(/^http:\/\/web\.boxd\.localhost:0\/__boxd\/login\?t=[A-Za-z0-9_-]{43}$/)
    const r = await get(WEB, { path: pathOf(link.url) })
    expect(r.status).toBe(303)
    expect(r.headers.location).toBe('/')
    expect(r.headers['referrer-policy']).toBe('no-referrer')
    const set = cookieOf(r)
    expect(set).toMatch(/^boxd-session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/)
    expect(set).not.toMatch(/Domain=/i) // host-only
    const cookie = set.split(';')[0]
    const page = await get(WEB, { headers: { Cookie: `theme=dark; ${cookie}` } })
    expect(page.status).toBe(200)
    expect(page.json.headers['x-boxd-email']).toBe('alice@example.com')
    expect(page.json.headers.cookie).toBe('theme=dark')
    const out = await get(WEB, { path: '/__boxd/logout', headers: { Cookie: cookie } })
    expect(cookieOf(out)).toMatch(/^boxd-session=; .*Max-Age=0/)
    expect((await get(WEB, { headers: { Cookie: cookie } })).status).toBe(401)
  })
  it('a magic link works once', async () => {
    const link = await ok(alice.user, 'browser web')
    expect((await get(WEB, { path: pathOf(link.url) })).status).toBe(303)
    expect((await get(WEB, { path: pathOf(link.url) })).status).toBe(401)
  })
  it('a magic link expires after 15 minutes', async () => {
    const link = await ok(alice.user, 'browser web')
    app.clock.advance(15 * 60_000 + 1000)
    expect((await get(WEB, { path: pathOf(link.url) })).status).toBe(401)
  })
  it('a magic link for one machine does not sign in on another', async () => {
    await ok(alice.user, 'new --name=db')
    const link = await ok(alice.user, 'browser db')
    expect((await get(WEB, { path: pathOf(link.url) })).status).toBe(401)
  })
  it('a guessed or malformed link secret is refused', async () => {
    expect((await get(WEB, { path: `/__boxd/login?t=${'A'.repeat(43)}` })).status).toBe(401)
    expect((await get(WEB, { path: '/__boxd/login?t=../../etc' })).status).toBe(401)
  })
  it('only hashes of link and session secrets are stored', async () => {
    const link = await ok(alice.user, 'browser web')
    const secret = new URL(link.url).searchParams.get('t')!
    const r = await get(WEB, { path: pathOf(link.url) })
    const session = cookieOf(r).split(';')[0].split('=')[1]
    const dump = JSON.stringify(app.services.store.db.prepare('SELECT * FROM browser_sessions').all())
    expect(dump).not.toContain(session)
    expect(dump).not.toContain(secret)
    const row = app.services.store.db.prepare('SELECT secret_hash FROM browser_sessions').get() as { secret_hash: Buffer }
    expect(row.secret_hash.equals(createHash('sha256').update(session).digest())).toBe(true)
  })
  it('a sharee can sign in; a stranger\'s `browser` is not_found; removing the share ends the session', async () => {
    expect((await run(app, bob.user, 'browser web')).error?.code).toBe('not_found')
    await ok(alice.user, 'share add web bob@example.com')
    const link = await ok(bob.user, 'browser web')
    const cookie = cookieOf(await get(WEB, { path: pathOf(link.url) })).split(';')[0]
    expect((await get(WEB, { headers: { Cookie: cookie } })).json.headers['x-boxd-email']).toBe('bob@example.com')
    await ok(alice.user, 'share remove web bob@example.com')
    const r = await get(WEB, { headers: { Cookie: cookie } })
    expect(r.status).toBe(401)
    expect(cookieOf(r)).toMatch(/Max-Age=0/)
  })
})

describe('streams', () => {
  it('a 32 MiB chunked upload streams through intact', async () => {
    const chunk = Buffer.alloc(1 << 20, 3)
    const body = Readable.from((function* () { for (let i = 0; i < 32; i++) yield chunk })())
    const r = await get(WEB, { method: 'PUT', body, headers: bearer(tokenFor(alice, WEB)) })
    expect(r.json.body_bytes).toBe(32 << 20)
    const h = createHash('sha256')
    for (let i = 0; i < 32; i++) h.update(chunk)
    expect(r.json.body_sha256).toBe(h.digest('hex'))
    expect(r.json.headers['transfer-encoding']).toBe('chunked')
  })
  it('a 64 MiB response streams through intact', async () => {
    const r = await get(WEB, { path: `/big/${64 << 20}`, headers: bearer(tokenFor(alice, WEB)) })
    expect(r.status).toBe(200)
    expect(Buffer.byteLength(r.body, 'latin1')).toBe(64 << 20)
  })
  it('WebSocket echo through the proxy, with identity on the handshake', async () => {
    const ws = await wsConnect(port, WEB, { 'X-Boxd-Authorization': `Bearer ${tokenFor(alice, WEB)}`, 'X-Boxd-Email': 'ceo@example.com' })
    try {
      expect(ws.head).toMatch(/^HTTP\/1.1 101/)
      expect(ws.head.toLowerCase()).toContain('x-seen-email: alice@example.com')
      expect(await ws.echo('hello')).toBe('hello')
      expect(await ws.echo('x'.repeat(1000))).toBe('x'.repeat(1000))
    } finally {
      ws.socket.destroy()
    }
  })
  it('closing the door cuts open WebSocket tunnels instead of waiting for them', async () => {
    const ws = await wsConnect(port, WEB, bearer(tokenFor(alice, WEB)))
    expect(await ws.echo('hi')).toBe('hi')
    const closed = new Promise((r) => ws.socket.once('close', r))
    await door.close()
    await closed
  })
  it('WebSocket to a private machine without credentials → 401, no tunnel', async () => {
    const ws = await wsConnect(port, WEB)
    expect(ws.head).toMatch(/^HTTP\/1.1 401/)
    expect(driver.connects).toBe(0)
  })
})
