// The store: one SQLite file, one module per table family.
import { openAuditWriter, openDatabase, type DB } from './db.js'
import { AuditLog } from './audit.js'
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

  private constructor(readonly db: DB, private readonly auditDb: DB) {
    this.users = new Users(db)
    this.keys = new SshKeys(db)
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

  static open(path: string): Store {
    const db = openDatabase(path)
    return new Store(db, openAuditWriter(path))
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

export type { User, Role } from './users.js'
export type { SshKeyRow } from './keys.js'
export type { TokenHandleRow } from './tokens.js'
export type { MachineRow, MachineStatus, MachineSpecJson } from './machines.js'
export type { PortForwardRow } from './ports.js'
export type { ProxyPortRow } from './shares.js'
export type { BrowserSecretRow } from './browser.js'
