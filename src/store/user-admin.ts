// Account changes only admins make (disable, expire, role, delete). Reads stay in users.ts.
import type { DB } from './db.js'
import type { Role, UserStatus } from './users.js'

export class UserAdmin {
  constructor(private readonly db: DB) {}

  setStatus(id: string, status: UserStatus): void {
    this.db.prepare('UPDATE users SET status = ? WHERE id = ?').run(status, id)
  }

  setExpiry(id: string, expiresAt: string | null): void {
    this.db.prepare('UPDATE users SET expires_at = ? WHERE id = ?').run(expiresAt, id)
  }

  setRole(id: string, role: Role): void {
    this.db.prepare('UPDATE users SET role = ? WHERE id = ?').run(role, id)
  }

  /** Admins who can still log in at `now` (the last one may not be disabled, demoted or removed). */
  activeAdmins(now: string): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM users WHERE role = 'admin' AND status = 'active'
      AND (expires_at IS NULL OR expires_at > ?)`).get(now) as { n: number }).n
  }

  keyCount(id: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM ssh_keys WHERE user_id = ? AND removed_at IS NULL').get(id) as { n: number }).n
  }

  /** Delete the account; keys, token handles, webhooks and tasks go with it (ON DELETE CASCADE). */
  delete(id: string): void {
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id)
  }
}
