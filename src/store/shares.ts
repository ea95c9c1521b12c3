// Who may reach a machine through the HTTPS proxy: public ports and shares by email.
import type { DB } from './db.js'

export interface ProxyPortRow {
  machine_id: string
  port: number
  public: 0 | 1
  updated_at: string
}

export class Shares {
  constructor(private readonly db: DB) {}

  /** Ports with a flag; a port without a row is private. */
  proxyPorts(machineId: string): ProxyPortRow[] {
    return this.db.prepare<[string], ProxyPortRow>('SELECT * FROM proxy_ports WHERE machine_id = ? ORDER BY port').all(machineId)
  }

  isPublic(machineId: string, port: number): boolean {
    const row = this.db.prepare<[string, number], { public: number }>('SELECT public FROM proxy_ports WHERE machine_id = ? AND port = ?').get(machineId, port)
    return row?.public === 1
  }

  setPublic(machineId: string, port: number, isPublic: boolean, now: Date): void {
    if (!isPublic) {
      this.db.prepare('DELETE FROM proxy_ports WHERE machine_id = ? AND port = ?').run(machineId, port)
      return
    }
    this.db.prepare(`INSERT INTO proxy_ports (machine_id, port, public, updated_at) VALUES (?, ?, 1, ?)
      ON CONFLICT (machine_id, port) DO UPDATE SET public = 1, updated_at = excluded.updated_at`).run(machineId, port, now.toISOString())
  }

  emails(machineId: string): { email: string; created_at: string }[] {
    return this.db.prepare<[string], { email: string; created_at: string }>('SELECT email, created_at FROM machine_shares WHERE machine_id = ? ORDER BY email').all(machineId)
  }

  isSharedWith(machineId: string, email: string): boolean {
    return this.db.prepare('SELECT 1 FROM machine_shares WHERE machine_id = ? AND email = ?').get(machineId, email.toLowerCase()) !== undefined
  }

  count(machineId: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM machine_shares WHERE machine_id = ?').get(machineId) as { n: number }).n
  }

  /** false when it was already there. */
  add(machineId: string, email: string, now: Date): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO machine_shares (machine_id, email, created_at) VALUES (?, ?, ?)').run(machineId, email.toLowerCase(), now.toISOString()).changes === 1
  }

  /** false when there was none. */
  remove(machineId: string, email: string): boolean {
    return this.db.prepare('DELETE FROM machine_shares WHERE machine_id = ? AND email = ?').run(machineId, email.toLowerCase()).changes === 1
  }
}
