// `boxd backup` and `boxd restore`. A backup is one file: SQLite's online backup of boxd.db with
// the audit trail (audit.db, also copied online) added as its audit_log table. Both copies are
// taken from read-only connections: safe while a server writes (WAL readers never block writers).
// The file is checked with `PRAGMA integrity_check` before it takes its final name. Restore splits
// it again: the audit rows go into a fresh audit.db.
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { CommandError, usage } from '../errors.js'
import { AUDIT_COLUMNS, AUDIT_MIGRATIONS } from '../store/audit-migrations.js'
import { hasTable, openAuditDatabase } from '../store/db.js'
import { AUDIT_FILE } from '../store/index.js'
import { MIGRATIONS } from '../store/migrations.js'
import { runningServerPid } from './server-lock.js'

export const DB_FILE = 'boxd.db'
export { AUDIT_FILE }
const ROTATED_RE = /^boxd-\d{8}T\d{9}Z\.db$/

export interface BackupResult {
  file: string
  bytes: number
  schema_version: number
  integrity: 'ok'
  removed: string[]
}

/** `20261123T120000123Z`: sorts by time as text; milliseconds keep quick successive backups apart. */
const stamp = (d: Date) => d.toISOString().replace(/[-:.]/g, '')

export async function backupDatabase(o: { dataDir: string; to: string; keep?: number; now?: Date }): Promise<BackupResult> {
  const src = join(o.dataDir, DB_FILE)
  if (!existsSync(src)) throw new CommandError('not_found', `no database at ${src}`, { hint: 'check --data-dir' })
  const toDir = o.to.endsWith('/') || (existsSync(o.to) && statSync(o.to).isDirectory()) || o.keep !== undefined
  if (o.keep !== undefined && existsSync(o.to) && !statSync(o.to).isDirectory()) throw usage('--keep rotates backups in a directory: give --to DIR')
  if (toDir) mkdirSync(o.to, { recursive: true, mode: 0o700 })
  const file = resolve(toDir ? join(o.to, `boxd-${stamp(o.now ?? new Date())}.db`) : o.to)
  const partial = `${file}.partial`
  rmSync(partial, { force: true })

  await onlineCopy(src, partial)
  const audit = join(o.dataDir, AUDIT_FILE)
  if (existsSync(audit)) {
    try {
      await addAuditTrail(partial, audit)
    } catch (e) {
      rmSync(partial, { force: true })
      throw e
    }
  }
  const schema = finishCopy(partial)
  chmodSync(partial, 0o600)
  renameSync(partial, file)
  const removed = toDir && o.keep !== undefined ? rotate(o.to, o.keep) : []
  return { file, bytes: statSync(file).size, schema_version: schema, integrity: 'ok', removed }
}

async function onlineCopy(from: string, to: string): Promise<void> {
  const db = new Database(from, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    await db.backup(to, { progress: wholeStep })
  } finally {
    db.close()
  }
}

/**
 * The audit trail into the backup file as its audit_log table (audit.db's schema), from an
 * online copy of audit.db: one file to keep, rotate and restore, as before the trail had its own.
 */
async function addAuditTrail(backup: string, audit: string): Promise<void> {
  const snapshot = `${backup}.audit`
  rmSync(snapshot, { force: true })
  try {
    await onlineCopy(audit, snapshot)
    const db = new Database(backup)
    try {
      for (const m of [...AUDIT_MIGRATIONS].sort((a, b) => a.version - b.version)) db.exec(m.sql)
      db.prepare('ATTACH DATABASE ? AS snapshot').run(snapshot)
      db.exec(`INSERT INTO main.audit_log (${AUDIT_COLUMNS}) SELECT ${AUDIT_COLUMNS} FROM snapshot.audit_log`)
      db.exec('DETACH DATABASE snapshot')
    } finally {
      db.close()
    }
  } finally {
    for (const f of [snapshot, `${snapshot}-wal`, `${snapshot}-shm`]) rmSync(f, { force: true })
  }
}

/**
 * After the first 100 pages, copy the rest in one step. SQLite restarts a stepwise backup each
 * time another connection writes to the source, so under a steady writer (a serving boxd) small
 * steps may never finish; one step reads one consistent snapshot (WAL readers never block writers).
 */
const wholeStep = (p: { totalPages: number; remainingPages: number }) => Math.max(p.totalPages, p.remainingPages, 1)

/**
 * Make the copy one self-contained file (rollback journal, no -wal/-shm beside it) and prove it
 * sound; returns its schema version. A copy that fails is deleted, never left to be trusted.
 */
function finishCopy(path: string): number {
  const db = new Database(path)
  try {
    db.pragma('journal_mode = DELETE')
    const check = db.pragma('integrity_check', { simple: true })
    if (check !== 'ok') throw new CommandError('failed', `backup failed its integrity check: ${String(check).slice(0, 200)}`)
    return db.pragma('user_version', { simple: true }) as number
  } catch (e) {
    db.close()
    rmSync(path, { force: true })
    throw e
  } finally {
    if (db.open) db.close()
  }
}

/** Keep the newest `keep` rotated backups (boxd-<stamp>.db) in `dir`; returns the removed names. */
function rotate(dir: string, keep: number): string[] {
  const files = readdirSync(dir).filter((f) => ROTATED_RE.test(f)).sort().reverse()
  const old = files.slice(Math.max(0, keep))
  for (const f of old) rmSync(join(dir, f), { force: true })
  return old
}

export interface RestoreResult {
  restored_from: string
  database: string
  previous: string | null
  /** The audit trail it replaced, kept beside it (audit.db.before-restore-<stamp>). */
  previous_audit: string | null
  schema_version: number
}

/**
 * Replace the data dir's database and audit trail with a backup. Refuses while a server uses the
 * data dir; the files it replaces are kept beside them as boxd.db.before-restore-<stamp> and
 * audit.db.before-restore-<stamp>.
 */
export async function restoreDatabase(o: { dataDir: string; from: string; now?: Date }): Promise<RestoreResult> {
  const pid = runningServerPid(o.dataDir)
  if (pid !== undefined && pid !== process.pid) {
    throw new CommandError('conflict', `a boxd server (pid ${pid}) is using ${o.dataDir}`, { hint: 'stop it first, then restore' })
  }
  if (!existsSync(o.from)) throw new CommandError('not_found', `no backup at ${o.from}`)
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 })
  const target = join(o.dataDir, DB_FILE)
  const auditTarget = join(o.dataDir, AUDIT_FILE)
  const incoming = `${target}.restoring`
  const incomingAudit = `${auditTarget}.restoring`
  const clear = () => { for (const f of [incoming, incomingAudit, `${incomingAudit}-wal`, `${incomingAudit}-shm`]) rmSync(f, { force: true }) }
  clear()

  let schema: number
  try {
    await onlineCopy(o.from, incoming)
    schema = finishCopy(incoming)
    const latest = Math.max(...MIGRATIONS.map((m) => m.version))
    if (schema > latest) {
      throw new CommandError('failed', `the backup is schema version ${schema}, newer than this boxd (${latest})`, { hint: 'restore it with the boxd version that made it' })
    }
    splitAuditTrail(incoming, incomingAudit)
  } catch (e) {
    clear()
    throw e
  }

  const when = stamp(o.now ?? new Date())
  const previous = keepPrevious(target, when)
  const previousAudit = keepPrevious(auditTarget, when)
  chmodSync(incoming, 0o600)
  chmodSync(incomingAudit, 0o600)
  renameSync(incomingAudit, auditTarget)
  renameSync(incoming, target)
  return { restored_from: resolve(o.from), database: target, previous, previous_audit: previousAudit, schema_version: schema }
}

/**
 * The backup's audit_log (any schema version) into a fresh audit.db, and out of the restored
 * boxd.db. A backup made without one (an empty trail) gives an empty audit.db.
 */
function splitAuditTrail(restoring: string, auditOut: string): void {
  const audit = openAuditDatabase(auditOut)
  try {
    audit.prepare('ATTACH DATABASE ? AS restoring').run(restoring)
    if (hasTable(audit, 'audit_log', 'restoring')) {
      audit.exec(`INSERT INTO main.audit_log (${AUDIT_COLUMNS}) SELECT ${AUDIT_COLUMNS} FROM restoring.audit_log`)
      audit.exec('DROP TABLE restoring.audit_log')
    }
    audit.exec('DETACH DATABASE restoring')
    // One self-contained file: no -wal beside it to be lost in the rename.
    audit.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    audit.close()
  }
  const db = new Database(restoring)
  try { db.exec('VACUUM') } finally { db.close() }
}

/** Move `file` aside as `<file>.before-restore-<when>` (its WAL folded in first); its name, or null. */
function keepPrevious(file: string, when: string): string | null {
  let previous: string | null = null
  if (existsSync(file)) {
    // Fold the WAL into the file first, so the kept copy is complete on its own.
    const cur = new Database(file)
    try { cur.pragma('wal_checkpoint(TRUNCATE)') } finally { cur.close() }
    previous = `${file}.before-restore-${when}`
    renameSync(file, previous)
  }
  for (const side of ['-wal', '-shm']) rmSync(`${file}${side}`, { force: true })
  return previous ? basename(previous) : null
}
