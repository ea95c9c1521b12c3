// The store: boxd.db (one module per table family) and the audit trail in audit.db beside it.
import { dirname, join } from 'node:path'
import { AUDIT_COLUMNS } from './audit-migrations.js'
import { hasTable, openAuditDatabase, openDatabase, type DB } from './db.js'
import { AuditLog } from './audit.js'
import { Generation } from './generation.js'
import { Events } from './events.js'
import { SshKeys } from './keys.js'
import { Tasks } from './tasks.js'
import { UserAdmin } from './user-admin.js'
import { Deliveries, Webhooks } from './webhooks.js'
import { TokenHandles } from './tokens.js'
import { Machines } from './machines.js'
import { Users } from './users.js'
import { PortForwards } from './ports.js'
import { Shares } from './shares.js'
import { BrowserSessions } from './browser.js'

export class Store {
  readonly users: Users
  readonly keys: SshKeys
  readonly tokens: TokenHandles
  readonly machines: Machines
  readonly audit: AuditLog
  readonly events: Events
  readonly webhooks: Webhooks
  readonly deliveries: Deliveries
  readonly tasks: Tasks
  readonly userAdmin: UserAdmin
  readonly ports: PortForwards
  readonly shares: Shares
  readonly browser: BrowserSessions
  private readonly gen: Generation

  /** boxd.db and audit.db: separate connections, never attached to each other (see absorbLegacyAudit). */
  private constructor(readonly db: DB, readonly auditDb: DB) {
    this.users = new Users(db)
    this.gen = new Generation(db)
    this.keys = new SshKeys(db, () => this.gen.get())
    this.tokens = new TokenHandles(db)
    this.machines = new Machines(db)
    this.audit = new AuditLog(auditDb)
    this.events = new Events(db)
    this.webhooks = new Webhooks(db)
    this.deliveries = new Deliveries(db)
    this.tasks = new Tasks(db)
    this.userAdmin = new UserAdmin(db)
    this.ports = new PortForwards(db)
    this.shares = new Shares(db)
    this.browser = new BrowserSessions(db)
  }

  /**
   * A number equal to an earlier answer only if boxd.db cannot have changed in between (another
   * process's commit or any write of ours; NaN inside a transaction). For caches of rows read on
   * every request: take it before reading the rows (src/store/generation.ts).
   */
  generation(): number {
    return this.gen.get()
  }

  /** `path` is boxd.db; the audit trail lives in `auditPath` (default: audit.db in the same directory). */
  static open(path: string, auditPath = join(dirname(path), AUDIT_FILE)): Store {
    const auditDb = openAuditDatabase(auditPath)
    try {
      return new Store(openDatabase(path, undefined, (db) => absorbLegacyAudit(db, auditPath)), auditDb)
    } catch (e) {
      auditDb.close()
      throw e
    }
  }

  /** Run fn in one IMMEDIATE transaction (writers serialize; readers never see half a change). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  close(): void {
    if (this.auditDb.open) this.auditDb.close()
    if (this.db.open) this.db.close()
  }
}

export const AUDIT_FILE = 'audit.db'

/**
 * A boxd.db made before the audit trail had its own file (schema < 6), or a backup restored as
 * one, still holds audit_log: copy its rows into audit.db (same ids, so a copy interrupted by a
 * crash is simply done again), then drop the table. The attachment lasts only for the copy: while
 * attached, every write transaction on boxd.db would also lock audit.db.
 */
export function absorbLegacyAudit(db: DB, auditPath: string): void {
  if (!hasTable(db, 'audit_log')) return
  db.prepare('ATTACH DATABASE ? AS audit').run(auditPath)
  try {
    db.exec(`INSERT OR IGNORE INTO audit.audit_log (${AUDIT_COLUMNS}) SELECT ${AUDIT_COLUMNS} FROM main.audit_log`)
  } finally {
    db.exec('DETACH DATABASE audit')
  }
  // Migration 6 drops it too; doing it here covers a restored backup already at version 6.
  db.exec('DROP TABLE main.audit_log')
}

export type { User, Role } from './users.js'
export type { SshKeyRow } from './keys.js'
export type { TokenHandleRow } from './tokens.js'
export type { MachineRow, MachineStatus, MachineSpecJson } from './machines.js'
export type { PortForwardRow } from './ports.js'
export type { ProxyPortRow } from './shares.js'
export type { BrowserSecretRow } from './browser.js'
