// The audit trail's own database file (audit.db beside boxd.db), with its own versioned schema.
// Append only, like migrations.ts. It is a separate file so that its one write per verb call
// (synchronous=NORMAL, see db.ts openAuditDatabase) never touches boxd.db: another connection's
// commit to boxd.db would change boxd.db's `PRAGMA data_version`, which is what tells the
// authentication caches that another process changed keys or accounts (src/store/generation.ts).
import type { Migration } from './migrations.js'

export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit log (moved out of boxd.db, where it was created by its migration 4)',
    sql: `
      -- Who did what, through which door. No foreign key to users: the trail outlives the account.
      CREATE TABLE audit_log (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        at              TEXT NOT NULL,
        user_id         TEXT,
        user_email      TEXT,
        via             TEXT NOT NULL,          -- ssh-key | token | local
        key_fingerprint TEXT,
        token_id        TEXT,
        door            TEXT NOT NULL,          -- ssh | http | local
        remote_address  TEXT,
        verb            TEXT NOT NULL,          -- resolved verb, or the (redacted) first word of an unknown line
        machines        TEXT,                   -- JSON array of machine-typed inputs, for --machine
        args            TEXT,                   -- JSON, secrets redacted; NULL when the line did not parse
        code            TEXT NOT NULL,          -- ok | an error code
        duration_ms     REAL NOT NULL,
        request_id      TEXT NOT NULL
      );
      CREATE INDEX audit_log_at ON audit_log(at);
      CREATE INDEX audit_log_user_at ON audit_log(user_id, at);
      CREATE INDEX audit_log_email_at ON audit_log(user_email, at);
    `,
  },
]

/** The columns of audit_log, in order: for copying rows between files. */
export const AUDIT_COLUMNS = 'id, at, user_id, user_email, via, key_fingerprint, token_id, door, remote_address, verb, machines, args, code, duration_ms, request_id'
