// "Has boxd.db changed?", answered by SQLite, for caches of rows read on every request
// (src/auth/token-service.ts). One number that moves whenever boxd.db may have changed:
//   - `PRAGMA data_version` moves when ANOTHER connection commits to boxd.db: another process
//     (`boxd user disable` run offline, a second `boxd run`, a restore tool) or another
//     connection of this one. The audit trail lives in its own file (audit.db) so that its
//     write per verb call does not move it.
//   - `total_changes()` moves whenever THIS connection inserts, updates or deletes a row, through
//     any code path, so no in-process write can forget to invalidate.
// Inside a transaction the answer is NaN, equal to nothing: a row read there may be one the
// transaction wrote and will roll back (total_changes() does not move back on rollback).
//
// How to use it: read generation() BEFORE reading the rows you cache, and stamp them with it.
// Read after, a commit landing between the rows and the check would be stamped as seen.
import type { DB } from './db.js'

export class Generation {
  private readonly dataVersionStmt
  private readonly totalChangesStmt
  private dataVersion = -1
  private totalChanges = -1
  private current = 0

  constructor(private readonly db: DB) {
    this.dataVersionStmt = db.prepare<[], number>('PRAGMA data_version').pluck()
    this.totalChangesStmt = db.prepare<[], number>('SELECT total_changes()').pluck()
  }

  /** Equal to a previous answer only if boxd.db cannot have changed since that answer. */
  get(): number {
    if (this.db.inTransaction) return Number.NaN
    const dataVersion = this.dataVersionStmt.get()!
    const totalChanges = this.totalChangesStmt.get()!
    if (dataVersion !== this.dataVersion || totalChanges !== this.totalChanges) {
      this.dataVersion = dataVersion
      this.totalChanges = totalChanges
      this.current++
    }
    return this.current
  }
}
