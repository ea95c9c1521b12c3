// Browser access to machine hostnames: one-time magic links and the cookie sessions they start.
// Only SHA-256 hashes of the secrets are stored, and rows are found by that hash.
import type { DB } from './db.js'

export interface BrowserSecretRow {
  secret_hash: Buffer
  machine_id: string
  user_id: string
  expires_at: string
  created_at: string
}

type Table = 'browser_links' | 'browser_sessions'

export class BrowserSessions {
  constructor(private readonly db: DB) {}

  insertLink(row: BrowserSecretRow): void { this.insert('browser_links', row) }
  insertSession(row: BrowserSecretRow): void { this.insert('browser_sessions', row) }

  /** Deletes and returns the link: a magic link works once, whoever uses it first. */
  takeLink(hash: Buffer): BrowserSecretRow | undefined {
    return this.db.prepare<[Buffer], BrowserSecretRow>('DELETE FROM browser_links WHERE secret_hash = ? RETURNING *').get(hash)
  }

  session(hash: Buffer): BrowserSecretRow | undefined {
    return this.db.prepare<[Buffer], BrowserSecretRow>('SELECT * FROM browser_sessions WHERE secret_hash = ?').get(hash)
  }

  deleteSession(hash: Buffer): void {
    this.db.prepare('DELETE FROM browser_sessions WHERE secret_hash = ?').run(hash)
  }

  countLive(userId: string, nowIso: string): number {
    return (this.db.prepare('SELECT (SELECT count(*) FROM browser_links WHERE user_id = @u AND expires_at > @t) + (SELECT count(*) FROM browser_sessions WHERE user_id = @u AND expires_at > @t) AS n').get({ u: userId, t: nowIso }) as { n: number }).n
  }

  /** Drops expired links and sessions (called as new ones are made, so the tables stay small). */
  purgeExpired(nowIso: string): void {
    this.db.prepare('DELETE FROM browser_links WHERE expires_at <= ?').run(nowIso)
    this.db.prepare('DELETE FROM browser_sessions WHERE expires_at <= ?').run(nowIso)
  }

  private insert(table: Table, row: BrowserSecretRow): void {
    this.db.prepare(`INSERT INTO ${table} (secret_hash, machine_id, user_id, expires_at, created_at) VALUES (@secret_hash, @machine_id, @user_id, @expires_at, @created_at)`).run(row)
  }
}
