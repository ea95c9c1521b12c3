// Port forwards (port open): which host port reaches which machine port, from where.
import type { DB } from './db.js'

export interface PortForwardRow {
  id: string
  machine_id: string
  port: number
  host_port: number
  /** JSON array of source CIDRs. */
  allow: string
  created_at: string
}

export class PortForwards {
  constructor(private readonly db: DB) {}

  forMachine(machineId: string): PortForwardRow[] {
    return this.db.prepare<[string], PortForwardRow>('SELECT * FROM port_forwards WHERE machine_id = ? ORDER BY port').all(machineId)
  }

  get(machineId: string, port: number): PortForwardRow | undefined {
    return this.db.prepare<[string, number], PortForwardRow>('SELECT * FROM port_forwards WHERE machine_id = ? AND port = ?').get(machineId, port)
  }

  byHostPort(hostPort: number): PortForwardRow | undefined {
    return this.db.prepare<[number], PortForwardRow>('SELECT * FROM port_forwards WHERE host_port = ?').get(hostPort)
  }

  countForUser(userId: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM port_forwards f JOIN machines m ON m.id = f.machine_id WHERE m.user_id = ?').get(userId) as { n: number }).n
  }

  insert(row: PortForwardRow): void {
    this.db.prepare('INSERT INTO port_forwards (id, machine_id, port, host_port, allow, created_at) VALUES (@id, @machine_id, @port, @host_port, @allow, @created_at)').run(row)
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM port_forwards WHERE id = ?').run(id)
  }
}
