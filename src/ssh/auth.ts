// SSH authentication: public key only. Credential → Identity, nothing else happens here.
//
// The gates, in order, each refusing with a counted failure:
//  1. method must be publickey (passwords and keyboard-interactive are never checked: no secret
//     that can be guessed or phished ever crosses this door);
//  2. the signature algorithm must not be SHA-1 `ssh-rsa` (chosen-prefix collisions make SHA-1
//     signatures forgeable in principle; OpenSSH disabled it by default in 8.8);
//  3. the key must belong to an active user — or, when enrollment is open, be a newcomer;
//  4. only a request carrying a signature that verifies (=== true: ssh2's verify may return an
//     Error object, which is truthy) binds an identity. A request without a signature is a probe:
//     it may be answered "this key would do" and binds nothing.
import ssh2, { type AuthContext, type ParsedKey, type PublicKeyAuthContext } from 'ssh2'
import { fingerprintOf, parsePublicKey } from '../auth/keys.js'
import type { Principal } from '../auth/principal.js'
import type { Services } from '../services.js'
import type { Enrollment } from './enrollment.js'

const { utils } = ssh2

/** Who a connection is, once a signature verified. */
export type Identity =
  | { kind: 'user'; principal: Principal }
  /** A verified key with no account, let in only to enroll (bootstrap code or open signup). */
  | { kind: 'newcomer'; key: { canonical: string; fingerprint: string }; remoteAddress?: string }

export interface AuthState {
  failures: number
  requests: number
  sawNone: boolean
  identity?: Identity
}

type Decision =
  | { ok: true; identity: Identity; keyId?: string }
  | { ok: false; why: string }

const KEY_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'])
const PARSED_CACHE_MAX = 1024

export class Authenticator {
  /** Parsed public keys by SHA256 fingerprint of their blob: a registered key is parsed once. */
  private readonly parsed = new Map<string, ParsedKey>()

  constructor(
    private readonly services: Services,
    private readonly enrollment: Enrollment,
    private readonly maxAuthTries: number,
  ) {}

  newState(): AuthState {
    return { failures: 0, requests: 0, sawNone: false }
  }

  /** Handle one USERAUTH_REQUEST. `drop` ends the connection (too many failures). */
  handle(ctx: AuthContext, state: AuthState, remoteAddress: string | undefined, drop: () => void): void {
    state.requests++
    if (ctx.method !== 'publickey') {
      // RFC 4252 clients open with "none" to learn the methods; that first one is not a failure.
      const free = ctx.method === 'none' && !state.sawNone
      if (ctx.method === 'none') state.sawNone = true
      return this.refuse(ctx, state, drop, free ? undefined : `method ${ctx.method} not offered`)
    }
    // Probes of a valid key are not failures, so bound the total too (a probe loop costs lookups).
    if (state.requests > this.maxAuthTries * 4) return this.refuse(ctx, state, drop, 'too many requests', true)
    const d = this.decide(ctx, remoteAddress)
    if (!d.ok) return this.refuse(ctx, state, drop, d.why)
    if (!ctx.signature || !ctx.blob) {
      ctx.accept() // probe: "sign with this key" (SSH_MSG_USERAUTH_PK_OK); no identity is bound
      return
    }
    const key = this.parse(ctx)
    if (!key || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return this.refuse(ctx, state, drop, 'bad signature')
    state.identity = d.identity
    if (d.keyId !== undefined) this.services.store.keys.touch(d.keyId, this.services.clock.now())
    ctx.accept()
  }

  private decide(ctx: PublicKeyAuthContext, remoteAddress: string | undefined): Decision {
    const algo = ctx.key.algo
    if (!KEY_TYPES.has(algo)) return { ok: false, why: `key type ${algo.slice(0, 40)} not accepted` }
    // ssh2 maps rsa-sha2-256/512 to algo ssh-rsa + hashAlgo; ssh-rsa without a hashAlgo is SHA-1.
    if (algo === 'ssh-rsa' && ctx.hashAlgo !== 'sha256' && ctx.hashAlgo !== 'sha512') return { ok: false, why: 'SHA-1 ssh-rsa signatures are refused' }
    const key = this.parse(ctx)
    if (!key) return { ok: false, why: 'unparseable key' }
    const fingerprint = fingerprintOf(ctx.key.data)
    const { store, clock } = this.services
    const row = store.keys.findActive(fingerprint)
    if (row) {
      const user = store.users.get(row.user_id)
      // Disabled or expired users are refused at the door, whatever else they hold.
      if (!user || !store.users.isActive(user, clock.now())) return { ok: false, why: 'user disabled or expired' }
      const principal: Principal = { user: { id: user.id, email: user.email, role: user.role }, via: 'ssh-key', keyFingerprint: fingerprint, remoteAddress }
      return { ok: true, keyId: row.id, identity: { kind: 'user', principal } }
    }
    if (!this.enrollment.newcomersWelcome) return { ok: false, why: 'unknown key' }
    try {
      // Same rules as `ssh-key add` (RSA ≥ 2048 bits …): a newcomer's key must be registrable.
      const info = parsePublicKey(`${algo} ${ctx.key.data.toString('base64')}`)
      return { ok: true, identity: { kind: 'newcomer', key: { canonical: info.canonical, fingerprint: info.fingerprint }, remoteAddress } }
    } catch {
      return { ok: false, why: 'key not registrable' }
    }
  }

  /** ssh2's parse of the key blob, checked to be of the type the client claims. */
  private parse(ctx: PublicKeyAuthContext): ParsedKey | undefined {
    const fp = fingerprintOf(ctx.key.data)
    let key = this.parsed.get(fp)
    if (!key) {
      const k = utils.parseKey(ctx.key.data)
      if (k instanceof Error || Array.isArray(k)) return undefined
      key = k
      if (this.parsed.size >= PARSED_CACHE_MAX) this.parsed.delete(this.parsed.keys().next().value as string)
      this.parsed.set(fp, key)
    }
    // The blob says what it is; a request claiming another algorithm is not ours to reinterpret.
    return key.type === ctx.key.algo ? key : undefined
  }

  private refuse(ctx: AuthContext, state: AuthState, drop: () => void, why: string | undefined, hard = false): void {
    if (why !== undefined) {
      state.failures++
      this.services.log.info({ method: ctx.method, user: ctx.username.slice(0, 64), why, failures: state.failures }, 'ssh auth refused')
    }
    ctx.reject(['publickey'])
    // sshd MaxAuthTries: the limit bounds online guessing of which keys are registered.
    if (hard || state.failures >= this.maxAuthTries) drop()
  }
}
