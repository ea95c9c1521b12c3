// Webhooks and their delivery outbox. The worker (src/ops/webhook-worker.ts) drains the outbox.
import type { DB } from './db.js'

export interface WebhookRow {
  id: string
  user_id: string
  url: string
  /** JSON array of type globs; [] = every type. */
  events: string
  all_users: number
  secret_sealed: string
  created_at: string
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed'

export interface DeliveryRow {
  id: string
  webhook_id: string
  event_id: string
  status: DeliveryStatus
  attempts: number
  next_attempt_at: string | null
  last_attempt_at: string | null
  response_status: number | null
  last_error: string | null
  created_at: string
  completed_at: string | null
}

export class Webhooks {
  constructor(private readonly db: DB) {}

  insert(row: WebhookRow): void {
    this.db.prepare(`INSERT INTO webhooks (id, user_id, url, events, all_users, secret_sealed, created_at)
      VALUES (@id, @user_id, @url, @events, @all_users, @secret_sealed, @created_at)`).run(row)
  }

  get(id: string): WebhookRow | undefined {
    return this.db.prepare<[string], WebhookRow>('SELECT * FROM webhooks WHERE id = ?').get(id)
  }

  listForUser(userId: string): WebhookRow[] {
    return this.db.prepare<[string], WebhookRow>('SELECT * FROM webhooks WHERE user_id = ? ORDER BY created_at, rowid').all(userId)
  }

  /**
   * Webhooks that may receive an event of this user: the user's own, and every-user webhooks of
   * owners who are admins now (a demoted admin's fleet-wide hook stops receiving at once).
   */
  candidatesFor(userId: string | null): WebhookRow[] {
    return this.db.prepare<[string | null], WebhookRow>(`SELECT w.* FROM webhooks w JOIN users u ON u.id = w.user_id
      WHERE w.user_id = ? OR (w.all_users = 1 AND u.role = 'admin') ORDER BY w.created_at, w.rowid`).all(userId)
  }

  remove(id: string): boolean {
    return this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0
  }
}

export class Deliveries {
  constructor(private readonly db: DB) {}

  insert(row: DeliveryRow): void {
    this.db.prepare(`INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, last_attempt_at, response_status, last_error, created_at, completed_at)
      VALUES (@id, @webhook_id, @event_id, @status, @attempts, @next_attempt_at, @last_attempt_at, @response_status, @last_error, @created_at, @completed_at)`).run(row)
  }

  get(id: string): DeliveryRow | undefined {
    return this.db.prepare<[string], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = ?').get(id)
  }

  /** Pending deliveries whose next attempt is due at `now`, oldest first. */
  due(now: string, limit: number): DeliveryRow[] {
    return this.db.prepare<[string, number], DeliveryRow>(`SELECT * FROM webhook_deliveries
      WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, rowid LIMIT ?`).all(now, limit)
  }

  /** When the next pending delivery falls due (for the worker's sleep), or undefined. */
  nextDue(): string | undefined {
    const r = this.db.prepare("SELECT min(next_attempt_at) AS t FROM webhook_deliveries WHERE status = 'pending'").get() as { t: string | null }
    return r.t ?? undefined
  }

  listForWebhook(webhookId: string, limit: number): (DeliveryRow & { event_type: string })[] {
    return this.db.prepare<[string, number], DeliveryRow & { event_type: string }>(`SELECT d.*, e.type AS event_type
      FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
      WHERE d.webhook_id = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT ?`).all(webhookId, limit)
  }

  /** Record one attempt's result. Only a pending row changes (a concurrent `rm` wins). */
  recordAttempt(id: string, r: { status: DeliveryStatus; at: string; responseStatus: number | null; error: string | null; nextAttemptAt: string | null }): void {
    this.db.prepare(`UPDATE webhook_deliveries SET status = @status, attempts = attempts + 1, last_attempt_at = @at,
      response_status = @responseStatus, last_error = @error, next_attempt_at = @nextAttemptAt,
      completed_at = CASE WHEN @status = 'pending' THEN NULL ELSE @at END
      WHERE id = @id AND status = 'pending'`).run({ id, ...r })
  }

  /** Drop finished deliveries older than `before`. */
  prune(before: string): number {
    return this.db.prepare("DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?").run(before).changes
  }
}
