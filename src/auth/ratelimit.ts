// Per-credential rate limits, shared by both doors: one token bucket per (caller, policy).
//
// The caller is the signing key's fingerprint (SSH key or boxd0 token), or the user for a boxd1
// handle (handles are server-side, so the account is the natural unit). Buckets refill
// continuously (quota / window per second), so there is no window edge at which a client may
// spend two quotas back to back. Headers follow the IETF draft "RateLimit header fields for
// HTTP" (structured-field form): `RateLimit-Policy` and `RateLimit`.
import { CommandError } from '../errors.js'
import type { Clock, DispatchObserver } from '../services.js'
import type { Principal } from './principal.js'

export interface RateLimits {
  /** Requests per minute, every verb (0 = unlimited). */
  perMinute: number
  /** Requests per minute to verbs that change state (0 = unlimited). */
  mutatingPerMinute: number
  /** Requests per hour, every verb (0 = unlimited). */
  perHour: number
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = { perMinute: 60, mutatingPerMinute: 30, perHour: 1000 }

/** Which policies a request is counted against. */
export type Charge = 'request' | 'mutating' | 'both'

interface Policy {
  name: string
  quota: number
  windowS: number
  mutatingOnly: boolean
}

interface Bucket {
  tokens: number
  /** ms timestamp of the last refill. */
  at: number
}

export interface LimitStatus {
  /** Headers for the response: RateLimit-Policy always, RateLimit for the tightest policy. */
  headers: Record<string, string>
}

// Buckets of callers idle long enough to be full again are forgotten past this many entries.
const SWEEP_AT = 10_000

export class RateLimiter implements DispatchObserver {
  private readonly policies: Policy[]
  private readonly buckets = new Map<string, Bucket[]>()
  private readonly policyHeader: string

  constructor(limits: RateLimits, private readonly clock: Clock) {
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isInteger(v) || v < 0) throw new TypeError(`rate limit ${k} must be a whole number ≥ 0, got ${String(v)}`)
    }
    this.policies = [
      { name: 'minute', quota: limits.perMinute, windowS: 60, mutatingOnly: false },
      { name: 'mutating', quota: limits.mutatingPerMinute, windowS: 60, mutatingOnly: true },
      { name: 'hour', quota: limits.perHour, windowS: 3600, mutatingOnly: false },
    ].filter((p) => p.quota > 0)
    this.policyHeader = this.policies.map((p) => `"${p.name}";q=${p.quota};w=${p.windowS}`).join(', ')
  }

  /**
   * Counts one request for `key` against the policies `charge` selects, all or nothing: a
   * refused request spends no quota. Throws `rate_limited` with Retry-After and RateLimit headers.
   */
  take(key: string, charge: Charge): LimitStatus {
    if (this.policies.length === 0) return { headers: {} }
    const now = this.clock.now().getTime()
    const buckets = this.bucketsFor(key, now)
    const applies = (p: Policy) => (charge === 'both' ? true : charge === 'mutating' ? p.mutatingOnly : !p.mutatingOnly)
    let retryAfter = 0
    let refused: Policy | undefined
    for (const [i, p] of this.policies.entries()) {
      const b = this.refill(p, buckets[i], now)
      if (applies(p) && b.tokens < 1) {
        const wait = Math.ceil(((1 - b.tokens) * p.windowS) / p.quota)
        if (wait > retryAfter) { retryAfter = wait; refused = p }
      }
    }
    if (refused) {
      throw new CommandError('rate_limited', `rate limit exceeded: ${describe(refused)}`, {
        hint: `retry in ${retryAfter} s`,
        headers: { 'Retry-After': String(retryAfter), 'RateLimit-Policy': this.policyHeader, RateLimit: `"${refused.name}";r=0;t=${retryAfter}` },
      })
    }
    for (const [i, p] of this.policies.entries()) if (applies(p)) buckets[i].tokens -= 1
    return { headers: this.headers(buckets) }
  }

  /**
   * Dispatcher hook (SSH exec and HTTP alike). The HTTP door has already charged the request
   * policies before reading the body (so a flood of large bodies costs it nothing), so here it
   * only pays the mutating policy; SSH pays both now that the verb is known. The local door
   * (the operator's `boxd run` on the server itself) is not limited.
   */
  beforeRun(e: { mutates: boolean; principal: Principal; door: string }): void {
    const key = rateKeyOf(e.principal)
    if (key === undefined) return
    if (e.door === 'http') {
      if (e.mutates) this.take(key, 'mutating')
    } else {
      this.take(key, e.mutates ? 'both' : 'request')
    }
  }

  private bucketsFor(key: string, now: number): Bucket[] {
    let b = this.buckets.get(key)
    if (!b) {
      if (this.buckets.size >= SWEEP_AT) this.sweep(now)
      b = this.policies.map((p) => ({ tokens: p.quota, at: now }))
      this.buckets.set(key, b)
    }
    return b
  }

  private refill(p: Policy, b: Bucket, now: number): Bucket {
    const elapsed = Math.max(0, now - b.at) / 1000
    b.tokens = Math.min(p.quota, b.tokens + (elapsed * p.quota) / p.windowS)
    b.at = now
    return b
  }

  private sweep(now: number): void {
    for (const [key, bs] of this.buckets) {
      if (this.policies.every((p, i) => this.refill(p, bs[i], now).tokens >= p.quota)) this.buckets.delete(key)
    }
  }

  /** The policy with the least left names the RateLimit header (r = whole requests left, t = s until full). */
  private headers(buckets: Bucket[]): Record<string, string> {
    let tight = 0
    for (let i = 1; i < this.policies.length; i++) {
      if (buckets[i].tokens / this.policies[i].quota < buckets[tight].tokens / this.policies[tight].quota) tight = i
    }
    const p = this.policies[tight]
    const b = buckets[tight]
    const full = Math.ceil(((p.quota - b.tokens) * p.windowS) / p.quota)
    return { 'RateLimit-Policy': this.policyHeader, RateLimit: `"${p.name}";r=${Math.floor(b.tokens)};t=${full}` }
  }
}

function describe(p: Policy): string {
  return `${p.quota} ${p.mutatingOnly ? 'state-changing requests' : 'requests'} per ${p.windowS === 60 ? 'minute' : 'hour'}`
}

/**
 * Whose quota a request spends: the signing key for SSH keys and boxd0 tokens, the account for
 * boxd1 handles (ids `tok_…`, see token-service.ts); none for the local door.
 */
export function rateKeyOf(principal: Principal): string | undefined {
  if (principal.via === 'local') return undefined
  if (principal.token?.id.startsWith('tok_')) return `user:${principal.user.id}`
  return principal.keyFingerprint ? `key:${principal.keyFingerprint}` : `user:${principal.user.id}`
}
