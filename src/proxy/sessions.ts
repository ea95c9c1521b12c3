// Browser access: `browser <m>` makes a one-time magic link (15 minutes); opening it on the
// machine's hostname starts a cookie session there. Secrets are 256 random bits; only their
// SHA-256 is stored, rows are found by that hash, and the hash is compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { CommandError } from '../errors.js'
import type { Clock, Config } from '../services.js'
import type { BrowserSecretRow, MachineRow, Store } from '../store/index.js'
import { machineHostname, webBase } from './urls.js'

export const LINK_TTL_MS = 15 * 60_000
export const SESSION_TTL_MS = 7 * 24 * 3600_000
// Bounds live links + sessions per account (a loop of `browser` cannot grow the tables without end).
export const MAX_LIVE_PER_USER = 500

export const LOGIN_PATH = '/__boxd/login'
export const LOGOUT_PATH = '/__boxd/logout'
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/

/** `__Host-` (HTTPS only) makes the browser enforce Secure, Path=/ and no Domain: host-only. */
export function cookieName(secure: boolean): string {
  return secure ? '__Host-boxd-session' : 'boxd-session'
}

export interface LinkView {
  machine: string
  url: string
  expires_at: string
}

export class BrowserLogins {
  constructor(private readonly store: Store, private readonly clock: Clock, private readonly config: Config) {}

  createLink(userId: string, m: MachineRow, port?: number): LinkView {
    const now = this.clock.now()
    const secret = randomBytes(32).toString('base64url')
    const expires = new Date(now.getTime() + LINK_TTL_MS)
    this.store.tx(() => {
      this.store.browser.purgeExpired(now.toISOString())
      if (this.store.browser.countLive(userId, now.toISOString()) >= MAX_LIVE_PER_USER) {
        throw new CommandError('quota_exceeded', `you have ${MAX_LIVE_PER_USER} live browser links and sessions`, { hint: 'wait for some to expire' })
      }
      this.store.browser.insertLink(this.row(hash(secret), m.id, userId, now, expires))
    })
    const base = webBase(this.config, machineHostname(this.config, m.name, port))
    return { machine: m.name, url: `${base}${LOGIN_PATH}?t=${secret}`, expires_at: expires.toISOString() }
  }

  /**
   * Spends a magic link for this machine: deleted whether or not it is still valid, so it can
   * never work twice. Returns a fresh session secret and its lifetime.
   */
  redeem(secret: string | null, machineId: string): { secret: string; userId: string; maxAgeS: number } | undefined {
    if (!secret || !SECRET_RE.test(secret)) return undefined
    const h = hash(secret)
    const now = this.clock.now()
    return this.store.tx(() => {
      const link = this.store.browser.takeLink(h)
      // A link made for another machine (another host) starts nothing here.
      if (!link || !sameHash(link, h) || link.machine_id !== machineId || link.expires_at <= now.toISOString()) return undefined
      const session = randomBytes(32).toString('base64url')
      this.store.browser.insertSession(this.row(hash(session), machineId, link.user_id, now, new Date(now.getTime() + SESSION_TTL_MS)))
      return { secret: session, userId: link.user_id, maxAgeS: SESSION_TTL_MS / 1000 }
    })
  }

  /** The account a session cookie speaks for on this machine, if it is live. */
  session(secret: string | undefined, machineId: string): string | undefined {
    if (!secret || !SECRET_RE.test(secret)) return undefined
    const h = hash(secret)
    const row = this.store.browser.session(h)
    if (!row || !sameHash(row, h) || row.machine_id !== machineId || row.expires_at <= this.clock.now().toISOString()) return undefined
    return row.user_id
  }

  logout(secret: string | undefined): void {
    if (secret && SECRET_RE.test(secret)) this.store.browser.deleteSession(hash(secret))
  }

  private row(h: Buffer, machineId: string, userId: string, now: Date, expires: Date): BrowserSecretRow {
    return { secret_hash: h, machine_id: machineId, user_id: userId, expires_at: expires.toISOString(), created_at: now.toISOString() }
  }
}

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest()
}

/** The row was found by this hash; compare anyway, in constant time, so no path ever compares secrets with ===. */
function sameHash(row: BrowserSecretRow, h: Buffer): boolean {
  return row.secret_hash.length === h.length && timingSafeEqual(row.secret_hash, h)
}
