// The SSH authenticator's gates, driven with real keys and real signatures but no network, so each
// attack is isolated from what the OpenSSH client would or would not send.
import { generateKeyPairSync, sign, randomBytes } from 'node:crypto'
import sshpk from 'sshpk'
import ssh2, { type AuthContext } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createUser } from '../../src/auth/accounts.js'
import { Authenticator, type AuthState } from '../../src/ssh/auth.js'
import { Enrollment } from '../../src/ssh/enrollment.js'
import { makeApp, type TestApp } from '../helpers/app.js'

interface TestKey { algo: string; blob: Buffer; publicLine: string; sign(data: Buffer, hash: string | null): Buffer }

function rsaKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const blob = sshpk.parseKey(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'pem').toBuffer('rfc4253')
  return { algo: 'ssh-rsa', blob, publicLine: `ssh-rsa ${blob.toString('base64')}`, sign: (d, h) => sign(h, d, privateKey) }
}

function ed25519Key(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const blob = sshpk.parseKey(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'pem').toBuffer('rfc4253')
  return { algo: 'ssh-ed25519', blob, publicLine: `ssh-ed25519 ${blob.toString('base64')}`, sign: (d) => sign(null, d, privateKey) }
}

/** A PublicKeyAuthContext as ssh2 builds it; records the decision. */
function pkCtx(key: TestKey, o: { signed?: boolean; hashAlgo?: string; blob?: Buffer; signWith?: TestKey; hashForSig?: string | null } = {}) {
  const blob = o.blob ?? randomBytes(64)
  const signer = o.signWith ?? key
  const decision: { accepted?: boolean } = {}
  const ctx = {
    method: 'publickey', username: 'boxd', service: 'ssh-connection',
    key: { algo: key.algo, data: key.blob },
    hashAlgo: o.hashAlgo,
    signature: o.signed ? signer.sign(blob, o.hashForSig === undefined ? (o.hashAlgo ?? null) : o.hashForSig) : undefined,
    blob: o.signed ? blob : undefined,
    accept: () => (decision.accepted = true),
    reject: () => (decision.accepted = false),
  }
  return { ctx: ctx as unknown as AuthContext, decision }
}

let app: TestApp
let auth: Authenticator
let state: AuthState
let dropped: number
const drop = () => dropped++

beforeEach(() => {
  app = makeApp()
  auth = new Authenticator(app.services, new Enrollment(app.services), 6)
  state = auth.newState()
  dropped = 0
})
afterEach(() => app.cleanup())

describe('ssh authentication gates', () => {
  it('a valid signature from a registered ed25519 key binds that user', () => {
    const k = ed25519Key()
    const u = createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    const { ctx, decision } = pkCtx(k, { signed: true })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(true)
    expect(state.identity).toMatchObject({ kind: 'user', principal: { user: { id: u.id }, via: 'ssh-key' } })
  })

  it('probe without signature binds nothing', () => {
    const k = ed25519Key()
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    const { ctx, decision } = pkCtx(k, { signed: false })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(true) // "this key would do" (PK_OK) …
    expect(state.identity).toBeUndefined() // … but nobody is logged in
  })

  it('a probe of one key does not let another key\'s signature in', () => {
    const good = ed25519Key()
    const other = ed25519Key()
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: good.publicLine })
    auth.handle(pkCtx(good).ctx, state, '127.0.0.1', drop)
    // Claims the registered key but signs with another one.
    const { ctx, decision } = pkCtx(good, { signed: true, signWith: other })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(false)
    expect(state.identity).toBeUndefined()
  })

  it('SHA-1 ssh-rsa signature refused even when it verifies', () => {
    const k = rsaKey()
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    const { ctx, decision } = pkCtx(k, { signed: true, hashAlgo: undefined, hashForSig: 'sha1' })
    // Sanity: the signature is genuine under SHA-1 …
    const parsed = ssh2.utils.parseKey(k.blob) as ssh2.ParsedKey
    const c = ctx as unknown as { blob: Buffer; signature: Buffer }
    expect(parsed.verify(c.blob, c.signature, 'sha1')).toBe(true)
    // … and still refused.
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(false)
    expect(state.identity).toBeUndefined()
  })

  it.each(['sha256', 'sha512'])('rsa-sha2 (%s) signatures are accepted', (hash) => {
    const k = rsaKey()
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    const { ctx, decision } = pkCtx(k, { signed: true, hashAlgo: hash })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(true)
    expect(state.identity?.kind).toBe('user')
  })

  it('a signature over other data (replayed from another session) is refused', () => {
    const k = ed25519Key()
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    const { ctx, decision } = pkCtx(k, { signed: true })
    ;(ctx as unknown as { blob: Buffer }).blob = randomBytes(64) // the session id differs
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(false)
  })

  it('a key claimed under another algorithm is refused', () => {
    const k = ed25519Key()
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    const { ctx, decision } = pkCtx({ ...k, algo: 'ecdsa-sha2-nistp256' }, { signed: true })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(false)
  })

  it('disabled user refused, at probe and with a signature', () => {
    const k = ed25519Key()
    const u = createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    app.services.store.db.prepare("UPDATE users SET status = 'disabled' WHERE id = ?").run(u.id)
    for (const signed of [false, true]) {
      const { ctx, decision } = pkCtx(k, { signed })
      auth.handle(ctx, state, '127.0.0.1', drop)
      expect(decision.accepted).toBe(false)
    }
    expect(state.identity).toBeUndefined()
  })

  it('expired user refused', () => {
    const k = ed25519Key()
    const u = createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: k.publicLine })
    app.services.store.db.prepare('UPDATE users SET expires_at = ? WHERE id = ?').run(new Date(app.clock.now().getTime() - 1000).toISOString(), u.id)
    const { ctx, decision } = pkCtx(k, { signed: true })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(false)
  })

  it('unknown key refused when signup is closed', () => {
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: ed25519Key().publicLine })
    const { ctx, decision } = pkCtx(ed25519Key(), { signed: true })
    auth.handle(ctx, state, '127.0.0.1', drop)
    expect(decision.accepted).toBe(false)
  })

  it.each(['password', 'keyboard-interactive', 'hostbased'])('%s is refused without being looked at', (method) => {
    let accepted: boolean | undefined
    let methods: unknown
    const ctx = { method, username: 'boxd', password: 'hunter2', accept: () => (accepted = true), reject: (m: unknown) => { accepted = false; methods = m } }
    auth.handle(ctx as unknown as AuthContext, state, '127.0.0.1', drop)
    expect(accepted).toBe(false)
    expect(methods).toEqual(['publickey'])
    expect(state.failures).toBe(1)
  })

  it('key enumeration is capped: the 6th failure drops the connection', () => {
    createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'user', keyText: ed25519Key().publicLine })
    for (let i = 0; i < 5; i++) auth.handle(pkCtx(ed25519Key()).ctx, state, '127.0.0.1', drop)
    expect(dropped).toBe(0)
    auth.handle(pkCtx(ed25519Key()).ctx, state, '127.0.0.1', drop)
    expect(dropped).toBe(1)
  })
})
