// How the first and later accounts come to exist over SSH: the first-run bootstrap code, the
// --admin-key/--admin-email flags, and open signup. Accounts themselves are src/auth/accounts.ts.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createUser, addKey } from '../auth/accounts.js'
import { parsePublicKey } from '../auth/keys.js'
import { conflict, usage } from '../errors.js'
import { p, parseValue } from '../registry/params.js'
import type { Services } from '../services.js'
import type { User } from '../store/index.js'

export const BOOTSTRAP_FILE = 'bootstrap_code'

export class Enrollment {
  private code: string | undefined
  readonly codePath: string

  constructor(private readonly services: Services) {
    this.codePath = join(services.config.dataDir, BOOTSTRAP_FILE)
  }

  get signupOpen(): boolean {
    return this.services.config.signup === 'open'
  }

  /** A bootstrap code is live only while the store has no account at all. */
  get bootstrapPending(): boolean {
    if (this.code === undefined) return false
    if (this.services.store.users.count() > 0) {
      this.voidCode()
      return false
    }
    return true
  }

  /** May a verified but unregistered key get in (to enroll, nothing else)? */
  get newcomersWelcome(): boolean {
    return this.signupOpen || this.bootstrapPending
  }

  /**
   * At start: --admin-key/--admin-email, else a bootstrap code when the store is empty.
   * Returns banner lines.
   */
  prepare(sshHint: string): string[] {
    const { config, store } = this.services
    if (config.adminKey !== undefined || config.adminEmail !== undefined) {
      const line = this.ensureAdmin(config.adminKey, config.adminEmail)
      this.voidCode()
      return [line]
    }
    if (store.users.count() > 0) {
      this.voidCode()
      return []
    }
    // Reused across restarts until used, so the printed code and the file never disagree.
    const stored = existsSync(this.codePath) ? readFileSync(this.codePath, 'utf8').trim() : ''
    this.code = /^[a-z0-9-]{16,64}$/.test(stored) ? stored : newCode()
    if (this.code !== stored) writeFileSync(this.codePath, `${this.code}\n`, { mode: 0o600 })
    return [
      `ssh: first run, no accounts yet. One-time bootstrap code: ${this.code}`,
      `ssh:   (stored in ${this.codePath}, mode 0600; void once used)`,
      `ssh:   run \`${sshHint}\`, type the code and your email: your key becomes the first admin`,
    ]
  }

  /** Constant-time check of a typed bootstrap code. */
  checkCode(typed: string): boolean {
    if (!this.bootstrapPending || this.code === undefined) return false
    const a = Buffer.from(typed.trim())
    const b = Buffer.from(this.code)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /** Create the account for a key that typed a valid code (admin) or signed up (user). */
  enroll(kind: 'bootstrap' | 'signup', emailRaw: string, keyCanonical: string): User {
    const { store, clock } = this.services
    const email = parseValue(p.email(), emailRaw.trim(), 'email') as string
    return store.tx(() => {
      if (kind === 'bootstrap') {
        // Two newcomers racing with the same code: only the first transaction finds zero users.
        if (store.users.count() > 0 || this.code === undefined) throw conflict('the bootstrap code is no longer valid', 'an admin already exists; ask them to run `boxd user add`')
      } else if (!this.signupOpen) {
        throw conflict('signup is closed on this server')
      }
      const user = createUser(store, clock, { email, role: kind === 'bootstrap' ? 'admin' : 'user', keyText: keyCanonical })
      if (kind === 'bootstrap') this.voidCode()
      return user
    })
  }

  private ensureAdmin(keyPath: string | undefined, emailRaw: string | undefined): string {
    if (!keyPath || !emailRaw) throw usage('--admin-key and --admin-email go together')
    const { store, clock } = this.services
    const email = parseValue(p.email(), emailRaw, '--admin-email') as string
    let keyText: string
    try {
      keyText = readFileSync(keyPath, 'utf8')
    } catch (e) {
      throw usage(`cannot read --admin-key ${keyPath}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    const key = parsePublicKey(keyText)
    return store.tx(() => {
      const existing = store.users.findByEmail(email)
      const holder = store.keys.findActive(key.fingerprint)
      if (!existing) {
        createUser(store, clock, { email, role: 'admin', keyText })
        return `ssh: admin ${email} created with key ${key.fingerprint}`
      }
      // Idempotent across restarts; never silently promotes an existing user or moves a key.
      if (existing.role !== 'admin') throw conflict(`--admin-email ${email} is an existing non-admin account`)
      if (holder && holder.user_id !== existing.id) throw conflict(`--admin-key ${key.fingerprint} belongs to another account`)
      if (!holder) addKey(store, clock, existing, keyText)
      return `ssh: admin ${email} has key ${key.fingerprint}`
    })
  }

  private voidCode(): void {
    this.code = undefined
    rmSync(this.codePath, { force: true })
  }
}

/** 100 bits, lowercase and dash-grouped so it survives being read aloud or retyped. */
function newCode(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789'
  const bytes = randomBytes(20)
  const chars = [...bytes].map((b) => alphabet[b & 31])
  return [0, 5, 10, 15].map((i) => chars.slice(i, i + 5).join('')).join('-')
}
