// The audit trail: one row per verb call, any door. Rows hold redacted arguments only
// (redaction happens before insert, in src/ops/redact.ts).
import type { DB } from './db.js'

export interface AuditRow {
  id: number
  at: string
  user_id: string | null
  user_email: string | null
  via: string
  key_fingerprint: string | null
  token_id: string | null
  door: string
  remote_address: string | null
  verb: string
  machines: string | null
  args: string | null
  code: string
  duration_ms: number
  request_id: string
}

export type NewAuditRow = Omit<AuditRow, 'id'>

export interface AuditQuery {
  userId?: string
  /** By email: the trail of a removed account stays findable (admins only). */
  userEmail?: string
  since?: string
  until?: string
  /** Exact verb, or a group: `ssh-key` matches `ssh-key add`. */
  verb?: string
  machine?: string
  limit: number
}

export class AuditLog {
  private readonly insertStmt
  constructor(private readonly db: DB) {
    // One statement for every verb call, positional (binding 14 named values costs more).
    this.insertStmt = db.prepare(`INSERT INTO audit_log
      (at, user_id, user_email, via, key_fingerprint, token_id, door, remote_address, verb, machines, args, code, duration_ms, request_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  }

  insert(r: NewAuditRow): number {
    return Number(this.insertStmt.run(r.at, r.user_id, r.user_email, r.via, r.key_fingerprint, r.token_id, r.door, r.remote_address, r.verb, r.machines, r.args, r.code, r.duration_ms, r.request_id).lastInsertRowid)
  }

  /** Newest first. Every filter is a bound parameter; the SQL text is fixed per filter set. */
  query(q: AuditQuery): AuditRow[] {
    const where: string[] = []
    const params: Record<string, unknown> = { limit: q.limit }
    if (q.userId !== undefined) { where.push('user_id = @userId'); params.userId = q.userId }
    if (q.userEmail !== undefined) { where.push('user_email = @userEmail'); params.userEmail = q.userEmail }
    if (q.since !== undefined) { where.push('at >= @since'); params.since = q.since }
    if (q.until !== undefined) { where.push('at < @until'); params.until = q.until }
    if (q.verb !== undefined) { where.push("(verb = @verb OR substr(verb, 1, length(@verb) + 1) = @verb || ' ')"); params.verb = q.verb }
    if (q.machine !== undefined) {
      where.push('machines IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(audit_log.machines) WHERE value = @machine)')
      params.machine = q.machine
    }
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT @limit`
    return this.db.prepare<[Record<string, unknown>], AuditRow>(sql).all(params)
  }

  /** Delete rows older than `before`; returns how many. */
  prune(before: string): number {
    return this.db.prepare('DELETE FROM audit_log WHERE at < ?').run(before).changes
  }
}
