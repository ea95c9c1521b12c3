// Opening the SQLite files: pragmas for durability, then migrations in one transaction each.
import Database from 'better-sqlite3'
import { AUDIT_MIGRATIONS } from './audit-migrations.js'
import { MIGRATIONS, type Migration } from './migrations.js'

export type DB = Database.Database

/**
 * boxd.db. `beforeMigrate` runs on the open connection before any migration (moving data out
 * of a table a migration is about to drop).
 */
export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS, beforeMigrate?: (db: DB) => void): DB {
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('busy_timeout = 5000')
    db.pragma('foreign_keys = ON')
    beforeMigrate?.(db)
    migrate(db, migrations)
    return db
  } catch (e) {
    db.close()
    throw e
  }
}

/**
 * audit.db: the audit trail, one row per verb call, written on this connection only.
 * `synchronous = NORMAL` (in WAL mode) keeps every committed row across a crash of boxd (kill -9)
 * and skips only the fsync per commit — the difference is a power loss, which may drop the last
 * rows of the trail. One fsync per verb call was 80 % of an HTTP request's cost. boxd.db stays FULL.
 * Small pages: a row changes five pages (table, three indexes, the AUTOINCREMENT counter), each
 * written whole to the WAL on every commit; 1 KiB pages make that ~5 KiB instead of ~20 KiB
 * (page_size only takes effect when the file is created).
 */
export function openAuditDatabase(path: string, migrations: readonly Migration[] = AUDIT_MIGRATIONS): DB {
  const db = new Database(path)
  try {
    db.pragma('page_size = 1024')
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('busy_timeout = 5000')
    db.pragma(`wal_autocheckpoint = ${AUDIT_CHECKPOINT_PAGES}`)
    migrate(db, migrations)
    return db
  } catch (e) {
    db.close()
    throw e
  }
}

/**
 * The audit WAL is folded into audit.db every this many pages (~10 MiB) instead of SQLite's 1000:
 * a checkpoint runs inside the request that crosses the mark and waits for two fsyncs, and the
 * rows' pages repeat (each row rewrites the same few index leaves), so ten times fewer
 * checkpoints copy about ten times fewer pages. Crash safety is unchanged (every row is in the
 * WAL before the answer); what a power loss may drop is bounded by the kernel's writeback of
 * the WAL (~30 s) either way.
 */
const AUDIT_CHECKPOINT_PAGES = 10_000

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

/** Does `schema` (main, or an attached name) hold a table called `name`? */
export function hasTable(db: DB, name: string, schema = 'main'): boolean {
  return db.prepare(`SELECT 1 FROM "${schema.replace(/"/g, '""')}".sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined
}
