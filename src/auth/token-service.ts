// Bearer credentials for the HTTPS door, over the store: boxd0 tokens (verified by TokenVerifier
// against registered keys of active users) and boxd1 handles (server-side names for a stored
// boxd0, fully re-verified on every use). Also issues server-made API keys.
import * as nodeCrypto from 'node:crypto'
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto'
import { CommandError, forbidden, notFound, usage } from '../errors.js'
import type { Clock } from '../services.js'
import type { Store, TokenHandleRow, User } from '../store/index.js'
import { addKey } from './accounts.js'
import { DEFAULT_TOKEN_CMDS, type TokenClaimsLike } from './permissions.js'
import type { Principal } from './principal.js'
import { publicKeyBlob, publicKeyText } from './sshsig.js'
import { mintToken, parseToken, TokenVerifier, tokenNamespace, type KeyLookup, type TokenClaims, type VerifiedToken } from './token.js'

export const HANDLE_PREFIX = 'boxd1.'
// 32 base32 characters = 160 bits: far beyond guessing, short enough to paste.
const HANDLE_RE = /^boxd1\.[a-z2-7]{32}$/
const HANDLE_ID_RE = /^tok_[a-z2-7]{16}$/
// Bounds the table per account; handles are meant to be few and long-lived.
const MAX_HANDLES_PER_USER = 1000
// last_used_at is informational: write it at most this often per key / handle, not per request.
const TOUCH_EVERY_MS = 60_000
// Verified signatures kept (oldest evicted first): a few MB at most.
const VERIFIED_CACHE_SIZE = 10_000

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

export interface TokenHandleView {
  id: string
  /** The handle's first characters, to recognise it; the handle itself is a secret and never listed. */
  prefix: string
  key_fingerprint: string
  cmds: string[] | null
  machines: string[] | null
  expires_at: string | null
  not_before: string | null
  created_at: string
  last_used_at: string | null
}

export interface ApiKeyRequest {
  label?: string
  /** Verb paths; undefined = the default read-only set. */
  cmds?: string[]
  /** Seconds from now; null = no expiry. */
  expiresIn: number | null
  machines?: string[]
}

/**
 * Signing keys a token may be verified against: registered, non-removed keys of active users.
 * Shared by every TokenVerifier (API and machine namespaces). Asked on every verification:
 * removing a key, or disabling or expiring its user, revokes every token it signed at once.
 */
export function activeKeyLookup(store: Store, clock: Clock, seen?: (user: User) => void): KeyLookup {
  return (fp) => {
    const key = store.keys.findActive(fp)
    if (!key) return undefined
    const user = store.users.get(key.user_id)
    if (!user || !store.users.isActive(user, clock.now())) return undefined
    seen?.(user)
    return { keyId: key.id, userId: user.id, publicKey: key.public_key }
  }
}

export class TokenService {
  /** `v0@<domain>`: the only namespace /exec accepts (machine tokens are `v0@<machine>.<domain>`). */
  readonly namespace: string
  private readonly verifier: TokenVerifier
  private readonly lookup: KeyLookup
  private readonly touched = new Map<string, number>()
  /** What the last successful key lookup found (see the constructor). */
  private last: { fp: string; user: User; publicKey: string; keyId: string } | undefined
  /**
   * Tokens already verified, by SHA-256 of the token (the map never holds a bearer secret).
   * A hit skips the signature arithmetic — a pure function of token, key and namespace — and,
   * while boxd.db is unchanged since the signing key and its account were read (`gen`, see
   * Store.generation), those two reads as well. Any change to boxd.db (a key removed or an account
   * disabled, by this process or another; any other write too) makes the next use read the key
   * and account again: still registered, still active, the very key that verified. exp/nbf and
   * the account's expiry are checked against the clock on every use. Revocation is as immediate
   * as without the cache.
   */
  private readonly verified = new Map<string, VerifiedEntry>()

  constructor(private readonly store: Store, private readonly clock: Clock, domain: string) {
    this.namespace = tokenNamespace(domain)
    // Remember what the last successful lookup read: authenticate() needs it right after, and
    // everything in between is synchronous, so it cannot belong to another request.
    const base = activeKeyLookup(store, clock, (u) => { seenUser = u })
    let seenUser: User | undefined
    this.lookup = (fp) => {
      seenUser = undefined
      const reg = base(fp)
      this.last = reg && seenUser ? { fp, user: seenUser, publicKey: reg.publicKey, keyId: reg.keyId } : undefined
      return reg
    }
    this.verifier = new TokenVerifier({
      namespace: this.namespace,
      lookup: this.lookup,
      now: () => Math.floor(clock.now().getTime() / 1000),
    })
  }

  /**
   * A bearer credential (boxd0 token or boxd1 handle) → the principal it speaks for.
   * Throws `unauthenticated`; the message never contains the credential.
   */
  authenticate(credential: string): Principal {
    if (credential.startsWith(HANDLE_PREFIX)) return this.resolveHandle(credential)
    const id = sha256Base64(credential)
    const now = this.clock.now()
    // Taken before any row is read (a commit landing after it moves it again).
    const gen = this.store.generation()
    const hit = this.verified.get(id)
    if (hit) {
      if (hit.gen === gen && inTime(hit.v.claims, now) && this.store.users.isActive(hit.user, now)) {
        return this.principal(hit.v, hit.user, hit.tokenId, now)
      }
      const reg = this.lookup(hit.v.fingerprint)
      const user = this.last?.user
      if (reg && user && reg.keyId === hit.v.keyId && reg.publicKey === hit.publicKey && reg.userId === hit.v.userId && inTime(hit.v.claims, now)) {
        hit.gen = gen
        hit.user = user
        return this.principal(hit.v, user, hit.tokenId, now)
      }
      // Something changed: drop it, and let the full verification say what.
      this.verified.delete(id)
    }
    this.last = undefined
    const v = this.verifier.verify(credential)
    const reg = this.last as TokenService['last']
    const tokenId = `sig_${Buffer.from(id, 'base64').subarray(0, 10).toString('hex')}`
    if (reg && reg.fp === v.fingerprint && reg.keyId === v.keyId && reg.user.id === v.userId) {
      deepFreeze(v.claims) // shared by every request that presents this token
      this.verified.set(id, { v, publicKey: reg.publicKey, user: reg.user, tokenId, gen })
      if (this.verified.size > VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!)
      return this.principal(v, reg.user, tokenId, now)
    }
    return this.principal(v, this.store.users.get(v.userId), tokenId, now)
  }

  /** Verifies a boxd0 token for this server's API namespace. Throws `unauthenticated`. */
  verify(token: string): VerifiedToken {
    return this.verifier.verify(token)
  }

  /** `token shorten`: the caller's boxd1 handle for a boxd0 signed by one of their keys (idempotent). */
  shorten(principal: Principal, token: string): { token: string } {
    if (!token.startsWith('boxd0.')) throw usage('expected a boxd0 token', 'boxd1 handles are already short; mint a boxd0 with boxdtoken')
    let v: VerifiedToken
    try {
      v = this.verifier.verify(token)
    } catch (e) {
      // The caller is authenticated; it is the argument that is bad, so this is not a 401.
      if (e instanceof CommandError && e.code === 'unauthenticated') throw new CommandError('usage', `that token does not verify: ${e.message}`, { hint: e.hint })
      throw e
    }
    if (v.userId !== principal.user.id) throw forbidden('that token was not signed by one of your keys', 'shorten tokens you signed yourself')
    const tokenHash = sha256(token)
    const now = this.clock.now()
    return this.store.tx(() => {
      const live = this.store.tokens.findLiveForToken(v.userId, tokenHash)
      if (live) return { token: handleFor(live.salt, live.token) }
      if (this.store.tokens.countLive(v.userId) >= MAX_HANDLES_PER_USER) {
        throw new CommandError('quota_exceeded', `you have ${MAX_HANDLES_PER_USER} token handles`, { hint: 'revoke some with `token revoke`' })
      }
      const salt = randomBytes(32)
      const handle = handleFor(salt, token)
      this.store.tokens.insert({ userId: v.userId, handleHash: sha256(handle), salt, token, tokenHash, keyFingerprint: v.fingerprint }, now)
      return { token: handle }
    })
  }

  /** `token ls`: the caller's live handles (never the handles themselves). */
  list(userId: string): TokenHandleView[] {
    return this.store.tokens.listLive(userId).map((row) => {
      const claims = storedClaims(row)
      const iso = (t?: number) => (t === undefined ? null : new Date(t * 1000).toISOString())
      return {
        id: row.id,
        prefix: `${handleFor(row.salt, row.token).slice(0, HANDLE_PREFIX.length + 4)}…`,
        key_fingerprint: row.key_fingerprint,
        cmds: claims.cmds ?? null,
        machines: claims.machines ?? null,
        expires_at: iso(claims.exp),
        not_before: iso(claims.nbf),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
      }
    })
  }

  /** `token revoke`: by the handle itself or its id from `token ls`. Someone else's → not_found. */
  revoke(userId: string, ref: string): { revoked: string } {
    let row: TokenHandleRow | undefined
    if (HANDLE_RE.test(ref)) {
      row = this.store.tokens.findLive(sha256(ref))
      if (row && row.user_id !== userId) row = undefined
    } else if (HANDLE_ID_RE.test(ref)) {
      row = this.store.tokens.get(userId, ref)
    } else {
      throw usage('expected a boxd1 handle or a handle id (tok_…)', 'run `token ls` to see your handles')
    }
    if (!row) throw notFound('no such token handle', 'run `token ls` to see your handles')
    this.store.tokens.revoke(row.id, this.clock.now())
    return { revoked: row.id }
  }

  /**
   * `ssh-key generate-api-key`: a fresh ed25519 key made here, its public half registered under
   * `label`, a token signed with it, and the private half dropped when this returns: the token
   * is the only thing that can ever act for that key, and `ssh-key remove` revokes it.
   */
  issueApiKey(principal: Principal, req: ApiKeyRequest): { token: string; key: string; fingerprint: string } {
    const now = this.clock.now()
    const exp = req.expiresIn === null ? undefined : Math.floor(now.getTime() / 1000) + req.expiresIn
    checkAttenuation(principal, { cmds: req.cmds, exp, machines: req.machines })
    const user = this.store.users.get(principal.user.id)
    if (!user) throw notFound('your account is gone')
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const label = req.label ?? defaultLabel(this.store, user)
    const row = addKey(this.store, this.clock, user, `${publicKeyText(publicKeyBlob(publicKey))} ${label}`, label)
    // Key order is fixed and there is no whitespace: the payload is signed exactly as serialised.
    const payload = JSON.stringify({ exp, cmds: req.cmds, machines: req.machines })
    return { token: mintToken(payload, privateKey, this.namespace), key: row.name, fingerprint: row.fingerprint }
  }

  private resolveHandle(handle: string): Principal {
    if (!HANDLE_RE.test(handle)) throw new CommandError('unauthenticated', 'malformed boxd1 handle', { hint: 'a handle is boxd1. followed by 32 characters a-z 2-7' })
    // Found by the hash of what was presented: the secret is never compared as a string.
    const row = this.store.tokens.findLive(sha256(handle))
    if (!row) throw new CommandError('unauthenticated', 'unknown or revoked boxd1 handle', { hint: 'shorten a fresh token with `token shorten`' })
    let v: VerifiedToken
    try {
      v = this.verifier.verify(row.token)
    } catch (e) {
      if (e instanceof CommandError && e.code === 'unauthenticated') {
        throw new CommandError('unauthenticated', `the token behind this boxd1 handle is no longer valid: ${e.message}`, { hint: 'shorten a fresh token with `token shorten`' })
      }
      throw e
    }
    // The signing key may since have been removed and registered to another account: a handle
    // only ever speaks for the account that made it.
    if (v.userId !== row.user_id) throw new CommandError('unauthenticated', 'the token behind this boxd1 handle is no longer valid: its key changed owner')
    const now = this.clock.now()
    this.touch(row.id, now, () => this.store.tokens.touch(row.id, now))
    const seen = this.last?.fp === v.fingerprint ? this.last.user : undefined
    return this.principal(v, seen?.id === v.userId ? seen : this.store.users.get(v.userId), row.id, now)
  }

  private principal(v: VerifiedToken, user: User | undefined, tokenId: string, now: Date): Principal {
    if (!user) throw new CommandError('unauthenticated', 'the account is gone')
    this.touch(v.keyId, now, () => this.store.keys.touch(v.keyId, now))
    // A fresh object per request: doors add to it (remoteAddress).
    return {
      user: { id: user.id, email: user.email, role: user.role },
      via: 'token',
      keyFingerprint: v.fingerprint,
      token: { id: tokenId, claims: v.claims },
    }
  }

  private touch(id: string, at: Date, write: () => void): void {
    const now = at.getTime()
    const last = this.touched.get(id)
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return
    if (this.touched.size > 10_000) this.touched.clear()
    this.touched.set(id, now)
    write()
  }
}

/**
 * A token may only hand out what it holds: a key generated through a token gets no verb, machine
 * or lifetime beyond that token's, or a narrow token could mint itself a wide one.
 */
export function checkAttenuation(principal: Principal, wanted: TokenClaimsLike): void {
  if (principal.via !== 'token') return
  const held = principal.token?.claims ?? {}
  const heldCmds = held.cmds ?? DEFAULT_TOKEN_CMDS
  const extra = (wanted.cmds ?? DEFAULT_TOKEN_CMDS).filter((c) => !heldCmds.includes(c))
  if (extra.length > 0) throw forbidden(`your token does not allow ${extra.map((c) => `\`${c}\``).join(', ')}, so it cannot grant it`, 'pass --cmds with verbs your token allows, or run this over SSH')
  if (held.exp !== undefined && (wanted.exp === undefined || wanted.exp > held.exp)) {
    throw forbidden('the new token would outlive the token you are using', 'pass a shorter --exp')
  }
  if (held.machines !== undefined && (wanted.machines === undefined || !wanted.machines.every((m) => held.machines!.includes(m)))) {
    throw forbidden('your token is limited to some machines, so the new one must be too', `pass --machine with one of: ${held.machines.join(', ')}`)
  }
}

function defaultLabel(store: Store, user: User): string {
  const names = new Set(store.keys.listForUser(user.id).map((k) => k.name))
  for (let n = 1; ; n++) if (!names.has(`api-key-${n}`)) return `api-key-${n}`
}

function storedClaims(row: TokenHandleRow): TokenClaims {
  try {
    return parseToken(row.token).claims
  } catch {
    return {}
  }
}

interface VerifiedEntry {
  v: VerifiedToken
  /** The signing key as it was when verified: a hit must find this very key. */
  publicKey: string
  /** The account, as read at `gen`. */
  user: User
  tokenId: string
  /** Store.generation() when the key and account were last read. */
  gen: number
}

/** exp and nbf against the clock. */
function inTime(claims: TokenClaims, now: Date): boolean {
  const t = Math.floor(now.getTime() / 1000)
  return (claims.exp === undefined || t < claims.exp) && (claims.nbf === undefined || t >= claims.nbf)
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return
  Object.freeze(v)
  for (const x of Object.values(v)) deepFreeze(x)
}

function sha256(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest()
}

// crypto.hash (Node ≥ 20.12) skips the Hash object: a third of the cost of a token cache lookup.
const oneShotHash = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash
const sha256Base64: (s: string) => string = oneShotHash ? (s) => oneShotHash('sha256', s, 'base64') : (s) => sha256(s).toString('base64')

/** boxd1 handle for a stored token: HMAC-SHA256(salt, token), first 160 bits in base32. */
function handleFor(salt: Buffer, token: string): string {
  const mac = createHmac('sha256', salt).update(token).digest()
  let out = HANDLE_PREFIX
  let bits = 0
  let value = 0
  for (let i = 0; i < 20; i++) {
    value = ((value << 8) | mac[i]) & 0xffff
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return out
}
