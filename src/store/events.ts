// Events: what changed, for whom. Written by src/ops/events.ts together with their outbox rows.
import type { DB } from './db.js'

export interface EventRow {
  id: string
  type: string
  user_id: string | null
  machine: string | null
  data: string
  created_at: string
}

export interface EventQuery {
  userId?: string
  since?: string
  until?: string
  machine?: string
  /** A type or a glob over types (`machine.*`); validated by the caller to a short, plain pattern. */
  type?: string
  limit: number
}

export class Events {
  private readonly insertStmt
  private readonly getStmt
  constructor(private readonly db: DB) {
    this.insertStmt = db.prepare('INSERT INTO events (id, type, user_id, machine, data, created_at) VALUES (@id, @type, @user_id, @machine, @data, @created_at)')
    this.getStmt = db.prepare<[string], EventRow>('SELECT * FROM events WHERE id = ?')
  }

  insert(row: EventRow): void {
    this.insertStmt.run(row)
  }

  get(id: string): EventRow | undefined {
    return this.getStmt.get(id)
  }

  /** Newest first. */
  query(q: EventQuery): EventRow[] {
    const where: string[] = []
    const params: Record<string, unknown> = { limit: q.limit }
    if (q.userId !== undefined) { where.push('user_id = @userId'); params.userId = q.userId }
    if (q.since !== undefined) { where.push('created_at >= @since'); params.since = q.since }
    if (q.until !== undefined) { where.push('created_at < @until'); params.until = q.until }
    if (q.machine !== undefined) { where.push('machine = @machine'); params.machine = q.machine }
    if (q.type !== undefined) { where.push('type GLOB @type'); params.type = q.type }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC LIMIT @limit`
    return this.db.prepare<[Record<string, unknown>], EventRow>(sql).all(params)
  }

  /**
   * Delete events older than `before`, except those a pending delivery still needs (the outbox
   * keeps its promise even when retention is shorter than the retry window).
   */
  prune(before: string): number {
    return this.db.prepare(`DELETE FROM events WHERE created_at < ?
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id AND d.status = 'pending')`).run(before).changes
  }
}
