import type { DB } from './db.js'
import { newId } from './ids.js'

export interface SshKeyRow {
  id: string
  user_id: string
  name: string
  public_key: string
  fingerprint: string
  created_at: string
  last_used_at: string | null
  removed_at: string | null
}

export class SshKeys {
  private readonly activeByFp
  private readonly touchStmt
  private readonly byUserStmt
  constructor(private readonly db: DB) {
    this.activeByFp = db.prepare<[string], SshKeyRow>('SELECT * FROM ssh_keys WHERE fingerprint = ? AND removed_at IS NULL')
    this.touchStmt = db.prepare('UPDATE ssh_keys SET last_used_at = ? WHERE id = ?')
    this.byUserStmt = db.prepare<[string], SshKeyRow>('SELECT * FROM ssh_keys WHERE user_id = ? AND removed_at IS NULL ORDER BY created_at, rowid')
  }

  /** The registered, non-removed key with this SHA256 fingerprint (any user). */
  findActive(fingerprint: string): SshKeyRow | undefined {
    return this.activeByFp.get(fingerprint)
  }

  listForUser(userId: string): SshKeyRow[] {
    return this.byUserStmt.all(userId)
  }

  insert(k: { userId: string; name: string; publicKey: string; fingerprint: string }, now: Date): SshKeyRow {
    const row: SshKeyRow = {
      id: newId('key'), user_id: k.userId, name: k.name, public_key: k.publicKey, fingerprint: k.fingerprint,
      created_at: now.toISOString(), last_used_at: null, removed_at: null,
    }
    this.db.prepare(`INSERT INTO ssh_keys (id, user_id, name, public_key, fingerprint, created_at, last_used_at, removed_at)
      VALUES (@id, @user_id, @name, @public_key, @fingerprint, @created_at, @last_used_at, @removed_at)`).run(row)
    return row
  }

  markRemoved(id: string, now: Date): void {
    this.db.prepare('UPDATE ssh_keys SET removed_at = ? WHERE id = ? AND removed_at IS NULL').run(now.toISOString(), id)
  }

  rename(id: string, name: string): void {
    this.db.prepare('UPDATE ssh_keys SET name = ? WHERE id = ?').run(name, id)
  }

  touch(id: string, now: Date): void {
    this.touchStmt.run(now.toISOString(), id)
  }
}
