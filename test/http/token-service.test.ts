// TokenService and the token verbs, on a real temp store with a movable clock: boxd1 handles,
// revocation, and server-made API keys (including attenuation through a narrow token).
import { execFileSync } from 'node:child_process'
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import { addKey, createUser } from '../../src/auth/accounts.js'
import type { Principal } from '../../src/auth/principal.js'
import { fingerprint, publicKeyBlob, publicKeyText } from '../../src/auth/sshsig.js'
import { mintToken, parseToken } from '../../src/auth/token.js'
import { CommandError } from '../../src/errors.js'
import type { User } from '../../src/store/index.js'
import { MovableClock } from '../helpers/http.js'

const NS = 'v0@boxd.localhost'
let dir: string
let app: App
let clock: MovableClock
let ann: User
let annKey: KeyObject
let bob: User
let bobKey: KeyObject

function newKey(store: App['services']['store'], user: User, name: string): KeyObject {
  const k = generateKeyPairSync('ed25519').privateKey
  addKey(store, clock, user, `${publicKeyText(publicKeyBlob(k))} ${name}`, name)
  return k
}
const tok = (k: KeyObject, claims: object = {}) => mintToken(JSON.stringify(claims), k, NS)
const code = (fn: () => unknown): string => {
  try { fn() } catch (e) { expect(e).toBeInstanceOf(CommandError); return (e as CommandError).code }
  return 'ok'
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'boxd-tokens-'))
  clock = new MovableClock()
  app = createApp(resolveConfig({ dataDir: dir }), { clock, log: pino({ level: 'silent' }) })
  ann = createUser(app.services.store, clock, { email: 'ann@example.com', role: 'user' })
  annKey = newKey(app.services.store, ann, 'ann-laptop')
  bob = createUser(app.services.store, clock, { email: 'bob@example.com', role: 'user' })
  bobKey = newKey(app.services.store, bob, 'bob-laptop')
})
afterEach(() => {
  app.close()
  rmSync(dir, { recursive: true, force: true })
})

const tokens = () => app.services.tokens
const as = (t: string): Principal => tokens().authenticate(t)

describe('boxd1 handles', () => {
  it('shorten is idempotent and the handle speaks for the same user and claims', () => {
    const t = tok(annKey, { cmds: ['whoami'], ctx: { a: 1 } })
    const p = as(t)
    const h1 = tokens().shorten(p, t).token
    expect(tokens().shorten(p, t).token).toBe(h1)
    const ph = as(h1)
    expect(ph.user.id).toBe(ann.id)
    expect(ph.token?.claims).toEqual({ cmds: ['whoami'], ctx: { a: 1 } })
    expect(ph.token?.id).toMatch(/^tok_/)
  })

  it('the store never holds the handle, only its SHA-256', () => {
    const t = tok(annKey)
    const h = tokens().shorten(as(t), t).token
    const rows = app.services.store.db.prepare('SELECT * FROM token_handles').all() as Array<Record<string, unknown>>
    expect(rows).toHaveLength(1)
    expect(JSON.stringify(rows)).not.toContain(h.slice(6))
    expect((rows[0].handle_hash as Buffer).equals(createHash('sha256').update(h).digest())).toBe(true)
  })

  it('an expired boxd0 cannot be shortened, and its handle stops working when it expires', () => {
    const exp = Math.floor(clock.now().getTime() / 1000) + 60
    const t = tok(annKey, { exp })
    const h = tokens().shorten(as(t), t).token
    expect(as(h).user.id).toBe(ann.id)
    clock.advance(61_000)
    expect(code(() => as(h))).toBe('unauthenticated')
    expect(code(() => tokens().shorten(as(tok(annKey)), t))).toBe('usage')
  })

  it('rejects a handle whose key was removed and re-registered to another account (handle hijack)', () => {
    const k = newKey(app.services.store, ann, 'shared')
    const t = tok(k)
    const h = tokens().shorten(as(t), t).token
    const row = app.services.store.keys.listForUser(ann.id).find((r) => r.name === 'shared')!
    app.services.store.keys.markRemoved(row.id, clock.now())
    addKey(app.services.store, clock, bob, publicKeyText(publicKeyBlob(k)), 'now-bobs')
    expect(as(t).user.id).toBe(bob.id) // the boxd0 follows the key (inherent to self-signed tokens)…
    expect(code(() => as(h))).toBe('unauthenticated') // …but a handle only ever speaks for its maker
  })

  it('revoke by handle or by id; someone else\'s handle is not_found', () => {
    const t = tok(annKey)
    const h = tokens().shorten(as(t), t).token
    expect(code(() => tokens().revoke(bob.id, h))).toBe('not_found')
    const [{ id }] = tokens().list(ann.id)
    expect(code(() => tokens().revoke(bob.id, id))).toBe('not_found')
    expect(tokens().revoke(ann.id, id)).toEqual({ revoked: id })
    expect(code(() => as(h))).toBe('unauthenticated')
    expect(code(() => tokens().revoke(ann.id, h))).toBe('not_found')
    expect(code(() => tokens().revoke(ann.id, 'garbage'))).toBe('usage')
  })

  it('list shows what a handle allows, never the handle', () => {
    const exp = Math.floor(clock.now().getTime() / 1000) + 3600
    const t = tok(annKey, { exp, cmds: ['ls'], machines: ['web-*'] })
    const h = tokens().shorten(as(t), t).token
    const [v] = tokens().list(ann.id)
    expect(v).toMatchObject({ cmds: ['ls'], machines: ['web-*'], expires_at: new Date(exp * 1000).toISOString(), key_fingerprint: fingerprint(publicKeyBlob(annKey)) })
    expect(v.prefix).toBe(`${h.slice(0, 10)}…`)
    expect(JSON.stringify(v)).not.toContain(h)
    expect(tokens().list(bob.id)).toEqual([])
  })
})

describe('the verified-signature cache', () => {
  it('a token seen before still expires on time', () => {
    const t = tok(annKey, { exp: Math.floor(clock.now().getTime() / 1000) + 30 })
    expect(as(t).user.id).toBe(ann.id)
    expect(as(t).user.id).toBe(ann.id) // second use: from the cache
    clock.advance(31_000)
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it('a token seen before dies with its key and with its user, at once', () => {
    const t = tok(annKey)
    expect(as(t).user.id).toBe(ann.id)
    app.services.store.db.prepare("UPDATE users SET status = 'disabled' WHERE id = ?").run(ann.id)
    expect(code(() => as(t))).toBe('unauthenticated')
    app.services.store.db.prepare("UPDATE users SET status = 'active' WHERE id = ?").run(ann.id)
    expect(as(t).user.id).toBe(ann.id)
    const row = app.services.store.keys.listForUser(ann.id)[0]
    app.services.store.keys.markRemoved(row.id, clock.now())
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  // The cache also skips reading the key and the account while boxd.db is unchanged
  // (Store.generation): every way boxd.db can change must make the very next request read them.
  const principalOf = (u: User): Principal => ({ user: { id: u.id, email: u.email, role: u.role }, via: 'local', keyFingerprint: null })

  it('a key removed by another process is refused on the next request', () => {
    const t = tok(annKey)
    expect(as(t).user.id).toBe(ann.id)
    expect(as(t).user.id).toBe(ann.id) // cached now
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3')
    execFileSync(process.execPath, ['-e', `
      const db = new (require(${JSON.stringify(sqlite)}))(${JSON.stringify(join(dir, 'boxd.db'))})
      db.pragma('busy_timeout = 5000')
      db.prepare("UPDATE ssh_keys SET removed_at = '2026-01-01T00:00:00.000Z' WHERE user_id = ?").run(${JSON.stringify(ann.id)})
      db.close()`])
    expect(code(() => as(t))).toBe('unauthenticated')
    expect(as(tok(bobKey)).user.id).toBe(bob.id) // everyone else is still let in
  })

  it('a user disabled with `boxd run user disable` (another connection, as offline) is refused on the next request', async () => {
    const admin = createUser(app.services.store, clock, { email: 'admin@example.com', role: 'admin' })
    const t = tok(annKey)
    expect(as(t).user.id).toBe(ann.id)
    expect(as(t).user.id).toBe(ann.id)
    const offline = createApp(resolveConfig({ dataDir: dir }), { clock, log: pino({ level: 'silent' }) })
    try {
      const out = await offline.dispatcher.dispatch({ line: 'user disable ann@example.com', principal: principalOf(admin), door: 'local' })
      expect(out.exit, out.stderr).toBe(0)
    } finally {
      offline.close()
    }
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it('a key removed or an account disabled through this server is refused on the next request', async () => {
    const admin = createUser(app.services.store, clock, { email: 'admin@example.com', role: 'admin' })
    const t = tok(annKey)
    expect(as(t).user.id).toBe(ann.id)
    expect(as(t).user.id).toBe(ann.id)
    let out = await app.dispatcher.dispatch({ line: 'user disable ann@example.com', principal: principalOf(admin), door: 'local' })
    expect(out.exit, out.stderr).toBe(0)
    expect(code(() => as(t))).toBe('unauthenticated')
    out = await app.dispatcher.dispatch({ line: 'user enable ann@example.com', principal: principalOf(admin), door: 'local' })
    expect(out.exit, out.stderr).toBe(0)
    expect(as(t).user.id).toBe(ann.id)
    expect(as(t).user.id).toBe(ann.id)
    newKey(app.services.store, ann, 'ann-desktop') // ssh-key remove refuses to remove the last key
    out = await app.dispatcher.dispatch({ line: 'ssh-key remove ann-laptop', principal: principalOf(ann), door: 'local' })
    expect(out.exit, out.stderr).toBe(0)
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it('a demoted admin\'s cached token carries the new role on the next request', async () => {
    const root = createUser(app.services.store, clock, { email: 'root@example.com', role: 'admin' })
    const boss = createUser(app.services.store, clock, { email: 'boss@example.com', role: 'admin' })
    const bossKey = newKey(app.services.store, boss, 'boss-laptop')
    const t = tok(bossKey)
    expect(as(t).user.role).toBe('admin')
    expect(as(t).user.role).toBe('admin')
    const out = await app.dispatcher.dispatch({ line: 'user set-role boss@example.com user', principal: principalOf(root), door: 'local' })
    expect(out.exit, out.stderr).toBe(0)
    expect(as(t).user.role).toBe('user')
  })

  it('an account whose expiry passes is refused on the next request, with nothing written to boxd.db', () => {
    const t = tok(annKey)
    app.services.store.db.prepare('UPDATE users SET expires_at = ? WHERE id = ?').run(new Date(clock.now().getTime() + 30_000).toISOString(), ann.id)
    expect(as(t).user.id).toBe(ann.id)
    expect(as(t).user.id).toBe(ann.id) // cached, with the expiry
    clock.advance(31_000)
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it('an account re-enabled by a transaction that rolled back stays refused', () => {
    const { store } = app.services
    const t = tok(annKey)
    expect(as(t).user.id).toBe(ann.id) // verified and cached (and its key's last use recorded)
    store.db.prepare("UPDATE users SET status = 'disabled' WHERE id = ?").run(ann.id)
    expect(code(() => as(t))).toBe('unauthenticated')
    // A verb that re-enables, reads the account back (the token verifies, inside the transaction), then fails.
    expect(() => store.tx(() => {
      store.db.prepare("UPDATE users SET status = 'active' WHERE id = ?").run(ann.id)
      expect(as(t).user.id).toBe(ann.id)
      throw new Error('rolled back')
    })).toThrow('rolled back')
    expect(code(() => as(t))).toBe('unauthenticated')
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it('a key inserted by a transaction that rolled back never authenticates', () => {
    const { store } = app.services
    const k = generateKeyPairSync('ed25519').privateKey
    const t = tok(k)
    expect(code(() => as(t))).toBe('unauthenticated')
    expect(() => store.tx(() => {
      addKey(store, clock, ann, `${publicKeyText(publicKeyBlob(k))} doomed`, 'doomed')
      expect(as(t).user.id).toBe(ann.id)
      throw new Error('rolled back')
    })).toThrow('rolled back')
    expect(code(() => as(t))).toBe('unauthenticated')
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it('claims handed to verbs cannot be changed by one request for the next', () => {
    const t = tok(annKey, { cmds: ['whoami'] })
    const claims = as(t).token!.claims
    expect(() => { (claims.cmds as string[]).push('ssh-key add') }).toThrow(TypeError)
    expect(as(t).token!.claims.cmds).toEqual(['whoami'])
  })
})

describe('token verbs through the dispatcher', () => {
  const run = (t: string, line: string) => app.dispatcher.dispatch({ line, principal: as(t), door: 'http', forceJson: true })

  it('token shorten prints only the handle (human output is the secret alone)', async () => {
    const t = tok(annKey)
    const o = await app.dispatcher.dispatch({ line: `token shorten ${t}`, principal: as(t), door: 'ssh' })
    expect(o.exit).toBe(0)
    expect(o.stdout).toMatch(/^boxd1\.[a-z2-7]{32}\n$/)
  })

  it('token ls / revoke need their own cmds (not in the default set)', async () => {
    expect((await run(tok(annKey), 'token ls')).error?.code).toBe('forbidden')
    expect((await run(tok(annKey, { cmds: ['token ls'] }), 'token ls')).body).toEqual({ tokens: [] })
  })
})

describe('ssh-key generate-api-key', () => {
  const run = (p: Principal, line: string) => app.dispatcher.dispatch({ line, principal: p, door: 'ssh', forceJson: true })
  const sshPrincipal = (): Principal => ({ user: { id: ann.id, email: ann.email, role: 'user' }, via: 'ssh-key', keyFingerprint: fingerprint(publicKeyBlob(annKey)) })

  it('defaults: label api-key-N, 30-day expiry, read-only set; the key is registered, the token verifies', async () => {
    const o = await run(sshPrincipal(), 'ssh-key generate-api-key')
    expect(o.exit).toBe(0)
    expect(Object.keys(o.body as object)).toEqual(['token'])
    const t = (o.body as { token: string }).token
    const { claims } = parseToken(t)
    expect(claims.cmds).toBeUndefined()
    expect(claims.exp).toBe(Math.floor(clock.now().getTime() / 1000) + 30 * 86400)
    const p = as(t)
    expect(p.user.id).toBe(ann.id)
    const names = app.services.store.keys.listForUser(ann.id).map((k) => k.name)
    expect(names).toContain('api-key-1')
    expect((await run(sshPrincipal(), 'ssh-key generate-api-key')).exit).toBe(0)
    expect(app.services.store.keys.listForUser(ann.id).map((k) => k.name)).toContain('api-key-2')
  })

  it('--cmds, --machine and --exp=never are exactly what gets signed; human output is only the token', async () => {
    const o = await app.dispatcher.dispatch({ line: 'ssh-key generate-api-key --label ci --cmds "whoami, ssh-key list" --machine web-1 --machine "db-*" --exp never', principal: sshPrincipal(), door: 'ssh' })
    expect(o.exit).toBe(0)
    expect(o.stdout).toMatch(/^boxd0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/)
    expect(parseToken(o.stdout.trim()).claims).toEqual({ cmds: ['whoami', 'ssh-key list'], machines: ['web-1', 'db-*'] })
  })

  it('removing the generated key revokes its token', async () => {
    const t = ((await run(sshPrincipal(), 'ssh-key generate-api-key --label gone')).body as { token: string }).token
    expect(as(t).user.id).toBe(ann.id)
    expect((await run(sshPrincipal(), 'ssh-key remove gone')).exit).toBe(0)
    expect(code(() => as(t))).toBe('unauthenticated')
  })

  it.each([
    ['--cmds nosuchverb', 'usage'],
    ['--cmds ,', 'usage'],
    ['--exp 0s', 'usage'],
    ['--exp soon', 'usage'],
    ['--label "bad label"', 'usage'],
    ['--machine "Web 1"', 'usage'],
    ['--label ann-laptop', 'conflict'],
  ])('%s → %s', async (flags, want) => {
    expect((await run(sshPrincipal(), `ssh-key generate-api-key ${flags}`)).error?.code).toBe(want)
  })

  describe('attenuation through a token', () => {
    const now = () => Math.floor(clock.now().getTime() / 1000)
    it('rejects a narrow token granting itself verbs it lacks', async () => {
      const p = as(tok(annKey, { cmds: ['ssh-key generate-api-key'] }))
      expect((await run(p, 'ssh-key generate-api-key --cmds "ssh-key add"')).error?.code).toBe('forbidden')
      // absent --cmds means the default read-only set, which this token does not hold either
      expect((await run(p, 'ssh-key generate-api-key')).error?.code).toBe('forbidden')
      expect((await run(p, 'ssh-key generate-api-key --cmds "ssh-key generate-api-key"')).exit).toBe(0)
    })
    it('rejects outliving the calling token', async () => {
      const p = as(tok(annKey, { exp: now() + 3600, cmds: ['ssh-key generate-api-key', 'whoami'] }))
      expect((await run(p, 'ssh-key generate-api-key --cmds whoami --exp 2h')).error?.code).toBe('forbidden')
      expect((await run(p, 'ssh-key generate-api-key --cmds whoami --exp never')).error?.code).toBe('forbidden')
      expect((await run(p, 'ssh-key generate-api-key --cmds whoami --exp 30m')).exit).toBe(0)
    })
    it('rejects escaping the calling token\'s machines', async () => {
      const p = as(tok(annKey, { machines: ['web-*'], cmds: ['ssh-key generate-api-key', 'whoami'] }))
      expect((await run(p, 'ssh-key generate-api-key --cmds whoami')).error?.code).toBe('forbidden')
      expect((await run(p, 'ssh-key generate-api-key --cmds whoami --machine "*"')).error?.code).toBe('forbidden')
      expect((await run(p, 'ssh-key generate-api-key --cmds whoami --machine "web-*"')).exit).toBe(0)
    })
  })
})
