// Opening the SQLite file: pragmas for durability, then migrations in one transaction each.
import Database from 'better-sqlite3'
import { MIGRATIONS, type Migration } from './migrations.js'

export type DB = Database.Database

export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS): DB {
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('busy_timeout = 5000')
    db.pragma('foreign_keys = ON')
    migrate(db, migrations)
    return db
  } catch (e) {
    db.close()
    throw e
  }
}

/**
 * A second connection for the audit trail's writes. `synchronous` is per connection: NORMAL in
 * WAL mode keeps every committed row across a crash of boxd (kill -9) and skips only the fsync
 * per commit — the difference is a power loss, which may drop the last rows of the trail. One
 * fsync per verb call was 80 % of an HTTP request's cost. Everything else stays FULL.
 */
export function openAuditWriter(path: string): DB {
  const db = new Database(path)
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  return db
}

export function migrate(db: DB, migrations: readonly Migration[]): void {
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0)
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > latest) {
    throw new Error(`database schema is version ${current}, newer than this boxd (knows up to ${latest}): upgrade boxd, or restore a backup made by this version`)
  }
  // Sorted, so migrations appended out of order by parallel work still apply in version order.
  const ordered = [...migrations].sort((a, b) => a.version - b.version)
  ordered.forEach((m, i) => { if (i > 0 && ordered[i - 1].version === m.version) throw new Error(`two migrations numbered ${m.version}`) })
  for (const m of ordered) {
    if (m.version <= current) continue
    db.transaction(() => {
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
    }).immediate()
  }
}
