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

// Accounts whose key lists are kept (whoami and ssh-key list read one per request).
const LIST_CACHE_SIZE = 10_000

export class SshKeys {
  private readonly activeByFp
  private readonly touchStmt
  private readonly byUserStmt
  /** listForUser results, stamped with the Store.generation() taken before they were read. */
  private readonly lists = new Map<string, { gen: number; rows: SshKeyRow[] }>()

  /** `generation`: Store.generation (src/store/generation.ts), equal only while boxd.db is unchanged. */
  constructor(private readonly db: DB, private readonly generation: () => number = () => Number.NaN) {
    this.activeByFp = db.prepare<[string], SshKeyRow>('SELECT * FROM ssh_keys WHERE fingerprint = ? AND removed_at IS NULL')
    this.touchStmt = db.prepare('UPDATE ssh_keys SET last_used_at = ? WHERE id = ?')
    this.byUserStmt = db.prepare<[string], SshKeyRow>('SELECT * FROM ssh_keys WHERE user_id = ? AND removed_at IS NULL ORDER BY created_at, rowid')
  }

  /** The registered, non-removed key with this SHA256 fingerprint (any user). */
  findActive(fingerprint: string): SshKeyRow | undefined {
    return this.activeByFp.get(fingerprint)
  }

  /** The user's registered keys, oldest first. Served from memory while boxd.db is unchanged. */
  listForUser(userId: string): SshKeyRow[] {
    const gen = this.generation() // before the read: a commit after it moves it again
    const hit = this.lists.get(userId)
    if (hit && hit.gen === gen) return hit.rows.map((k) => ({ ...k }))
    const rows = this.byUserStmt.all(userId)
    if (!Number.isNaN(gen)) {
      if (this.lists.size >= LIST_CACHE_SIZE) this.lists.clear()
      this.lists.set(userId, { gen, rows: rows.map((k) => ({ ...k })) })
    }
    return rows
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
