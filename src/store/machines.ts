import type { DB } from './db.js'

export type MachineStatus = 'creating' | 'running' | 'stopping' | 'stopped' | 'failed'

export interface MachineSpecJson {
  env: Record<string, string>
  cpu?: number
  memory_bytes?: number
  network: 'none' | 'host'
  command?: string
}

export interface MachineRow {
  id: string
  name: string
  user_id: string
  driver: string
  image: string
  desired: 'running' | 'stopped'
  status: MachineStatus
  status_reason: string | null
  spec: string
  tags: string
  comment: string
  proxy_port: number
  created_at: string
  started_at: string | null
  updated_at: string
}

export class Machines {
  private readonly byNameStmt
  private readonly byUserStmt
  private readonly byIdStmt
  constructor(private readonly db: DB) {
    this.byNameStmt = db.prepare<[string], MachineRow>('SELECT * FROM machines WHERE name = ?')
    this.byUserStmt = db.prepare<[string], MachineRow>('SELECT * FROM machines WHERE user_id = ? ORDER BY name')
    this.byIdStmt = db.prepare<[string], MachineRow>('SELECT * FROM machines WHERE id = ?')
  }

  byName(name: string): MachineRow | undefined {
    return this.byNameStmt.get(name)
  }

  get(id: string): MachineRow | undefined {
    return this.byIdStmt.get(id)
  }

  listForUser(userId: string): MachineRow[] {
    return this.byUserStmt.all(userId)
  }

  all(): MachineRow[] {
    return this.db.prepare<[], MachineRow>('SELECT * FROM machines ORDER BY name').all()
  }

  countForUser(userId: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM machines WHERE user_id = ?').get(userId) as { n: number }).n
  }

  countByStatus(): Record<string, number> {
    const rows = this.db.prepare('SELECT status, count(*) AS n FROM machines GROUP BY status').all() as { status: string; n: number }[]
    return Object.fromEntries(rows.map((r) => [r.status, r.n]))
  }

  insert(row: MachineRow): void {
    this.db.prepare(`INSERT INTO machines (id, name, user_id, driver, image, desired, status, status_reason, spec, tags, comment, proxy_port, created_at, started_at, updated_at)
      VALUES (@id, @name, @user_id, @driver, @image, @desired, @status, @status_reason, @spec, @tags, @comment, @proxy_port, @created_at, @started_at, @updated_at)`).run(row)
  }

  update(id: string, patch: Partial<Omit<MachineRow, 'id' | 'user_id' | 'created_at'>>, now: Date): void {
    const keys = Object.keys(patch)
    if (keys.length === 0) return
    // Column names come from the typed patch keys only, never from input.
    const set = [...keys.map((k) => `${k} = @${k}`), 'updated_at = @updated_at'].join(', ')
    this.db.prepare(`UPDATE machines SET ${set} WHERE id = @id`).run({ ...patch, updated_at: now.toISOString(), id })
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM machines WHERE id = ?').run(id)
  }
}
