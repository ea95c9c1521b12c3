// `boxd backup` and `boxd restore`. A backup is SQLite's online backup of boxd.db, taken from a
// read-only connection: safe while a server writes (WAL readers never block writers), and
// checked with `PRAGMA integrity_check` before it takes its final name.
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { CommandError, usage } from '../errors.js'
import { MIGRATIONS } from '../store/migrations.js'
import { runningServerPid } from './server-lock.js'

export const DB_FILE = 'boxd.db'
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

  const db = new Database(src, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    await db.backup(partial, { progress: wholeStep })
  } finally {
    db.close()
  }
  const schema = finishCopy(partial)
  chmodSync(partial, 0o600)
  renameSync(partial, file)
  const removed = toDir && o.keep !== undefined ? rotate(o.to, o.keep) : []
  return { file, bytes: statSync(file).size, schema_version: schema, integrity: 'ok', removed }
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
  schema_version: number
}

/**
 * Replace the data dir's database with a backup. Refuses while a server uses the data dir; the
 * database it replaces is kept beside it as boxd.db.before-restore-<stamp>.
 */
export async function restoreDatabase(o: { dataDir: string; from: string; now?: Date }): Promise<RestoreResult> {
  const pid = runningServerPid(o.dataDir)
  if (pid !== undefined && pid !== process.pid) {
    throw new CommandError('conflict', `a boxd server (pid ${pid}) is using ${o.dataDir}`, { hint: 'stop it first, then restore' })
  }
  if (!existsSync(o.from)) throw new CommandError('not_found', `no backup at ${o.from}`)
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 })
  const target = join(o.dataDir, DB_FILE)
  const incoming = `${target}.restoring`
  rmSync(incoming, { force: true })

  const src = new Database(o.from, { readonly: true, fileMustExist: true })
  try {
    await src.backup(incoming, { progress: wholeStep })
  } finally {
    src.close()
  }
  const schema = finishCopy(incoming)
  const latest = Math.max(...MIGRATIONS.map((m) => m.version))
  if (schema > latest) {
    rmSync(incoming, { force: true })
    throw new CommandError('failed', `the backup is schema version ${schema}, newer than this boxd (${latest})`, { hint: 'restore it with the boxd version that made it' })
  }

  let previous: string | null = null
  if (existsSync(target)) {
    // Fold the WAL into the file first, so the kept copy is complete on its own.
    const cur = new Database(target)
    try { cur.pragma('wal_checkpoint(TRUNCATE)') } finally { cur.close() }
    previous = `${target}.before-restore-${stamp(o.now ?? new Date())}`
    renameSync(target, previous)
  }
  for (const side of ['-wal', '-shm']) rmSync(`${target}${side}`, { force: true })
  chmodSync(incoming, 0o600)
  renameSync(incoming, target)
  return { restored_from: resolve(o.from), database: target, previous: previous ? basename(previous) : null, schema_version: schema }
}
