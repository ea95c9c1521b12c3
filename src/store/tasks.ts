// Long operations run as tasks (src/ops/tasks.ts); a row is their durable status.
import type { DB } from './db.js'

export type TaskStatus = 'running' | 'succeeded' | 'failed'

export interface TaskRow {
  id: string
  user_id: string
  kind: string
  status: TaskStatus
  progress: string | null
  result: string | null
  error: string | null
  created_at: string
  updated_at: string
  finished_at: string | null
}

export class Tasks {
  constructor(private readonly db: DB) {}

  insert(row: TaskRow): void {
    this.db.prepare(`INSERT INTO tasks (id, user_id, kind, status, progress, result, error, created_at, updated_at, finished_at)
      VALUES (@id, @user_id, @kind, @status, @progress, @result, @error, @created_at, @updated_at, @finished_at)`).run(row)
  }

  get(id: string): TaskRow | undefined {
    return this.db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?').get(id)
  }

  list(q: { userId?: string; status?: TaskStatus; limit: number }): TaskRow[] {
    const where: string[] = []
    if (q.userId !== undefined) where.push('user_id = @userId')
    if (q.status !== undefined) where.push('status = @status')
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, rowid DESC LIMIT @limit`
    return this.db.prepare<[Record<string, unknown>], TaskRow>(sql).all({ userId: q.userId, status: q.status, limit: q.limit })
  }

  progress(id: string, message: string, now: string): void {
    this.db.prepare("UPDATE tasks SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'").run(message, now, id)
  }

  finish(id: string, r: { status: 'succeeded' | 'failed'; result: string | null; error: string | null }, now: string): void {
    this.db.prepare(`UPDATE tasks SET status = @status, result = @result, error = @error, updated_at = @now, finished_at = @now
      WHERE id = @id AND status = 'running'`).run({ id, ...r, now })
  }

  /** Mark every running task failed (a previous server process died under them). */
  failRunning(error: string, now: string): number {
    return this.db.prepare("UPDATE tasks SET status = 'failed', error = ?, updated_at = ?, finished_at = ? WHERE status = 'running'").run(error, now, now).changes
  }

  prune(before: string): number {
    return this.db.prepare("DELETE FROM tasks WHERE status != 'running' AND created_at < ?").run(before).changes
  }
}
