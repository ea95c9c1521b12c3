import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { AUDIT_MIGRATIONS } from '../../src/store/audit-migrations.js'
import { openAuditDatabase, openDatabase } from '../../src/store/db.js'
import { Store } from '../../src/store/index.js'
import { MIGRATIONS } from '../../src/store/migrations.js'

const dirs: string[] = []
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'boxd-db-')); dirs.push(d); return join(d, 'boxd.db') }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('store', () => {
  it('opens with WAL, synchronous FULL, foreign keys, and the latest schema', () => {
    const db = openDatabase(tmp())
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('synchronous', { simple: true })).toBe(2)
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(db.pragma('user_version', { simple: true })).toBe(Math.max(...MIGRATIONS.map((m) => m.version)))
    db.close()
  })
  it('migrations are idempotent across reopen and keep rows', () => {
    const path = tmp()
    const a = openDatabase(path)
    a.prepare("INSERT INTO users (id, email, role, created_at) VALUES ('u1', 'a@b.c', 'user', 'now')").run()
    a.close()
    const b = openDatabase(path)
    expect(b.prepare('SELECT email FROM users').all()).toEqual([{ email: 'a@b.c' }])
    b.close()
  })
  it('refuses a database newer than the code', () => {
    const path = tmp()
    openDatabase(path).close()
    const raw = new Database(path)
    raw.pragma('user_version = 9999')
    raw.close()
    expect(() => openDatabase(path)).toThrow(/newer than this boxd/)
  })
  it('a failing migration leaves the previous version intact', () => {
    const path = tmp()
    const bad = [...MIGRATIONS, { version: 999, name: 'broken', sql: 'CREATE TABLE z (a); SELECT nonsense FROM nowhere;' }]
    expect(() => openDatabase(path, bad)).toThrow()
    const db = openDatabase(path)
    expect(db.prepare("SELECT count(*) n FROM sqlite_master WHERE name = 'z'").get()).toEqual({ n: 0 })
    db.close()
  })
  it('one active key per fingerprint', () => {
    const db = openDatabase(tmp())
    db.prepare("INSERT INTO users (id, email, role, created_at) VALUES ('u1', 'a@b.c', 'user', 'now')").run()
    const ins = db.prepare("INSERT INTO ssh_keys (id, user_id, name, public_key, fingerprint, created_at, removed_at) VALUES (?, 'u1', ?, 'k', 'SHA256:x', 'now', ?)")
    ins.run('k1', 'a', null)
    expect(() => ins.run('k2', 'b', null)).toThrow(/UNIQUE/)
    ins.run('k3', 'c', 'removed')
    db.close()
  })

  it('the audit trail has its own file: WAL, synchronous NORMAL, its own schema version', () => {
    const path = tmp()
    const store = Store.open(path)
    try {
      const a = store.auditDb
      expect(a.name).toBe(join(path, '..', 'audit.db'))
      expect(a.pragma('journal_mode', { simple: true })).toBe('wal')
      expect(a.pragma('synchronous', { simple: true })).toBe(1)
      expect(a.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000)
      expect(a.pragma('page_size', { simple: true })).toBe(1024)
      expect(a.pragma('user_version', { simple: true })).toBe(Math.max(...AUDIT_MIGRATIONS.map((m) => m.version)))
      // boxd.db no longer has the table: a commit to audit.db is not a change to boxd.db.
      expect(store.db.prepare("SELECT count(*) n FROM sqlite_master WHERE name = 'audit_log'").get()).toEqual({ n: 0 })
    } finally {
      store.close()
    }
  })
  it('a boxd.db from before audit.db keeps its trail: rows move to audit.db with their ids, and new ids follow them', () => {
    const path = tmp()
    const old = openDatabase(path, MIGRATIONS.filter((m) => m.version <= 5))
    const ins = old.prepare("INSERT INTO audit_log (at, via, door, verb, code, duration_ms, request_id) VALUES (?, 'local', 'local', 'whoami', 'ok', 1, ?)")
    for (let i = 0; i < 3; i++) ins.run(`2026-11-2${i}T00:00:00.000Z`, `r${i}`)
    old.close()
    const store = Store.open(path)
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(Math.max(...MIGRATIONS.map((m) => m.version)))
      expect(store.db.prepare("SELECT count(*) n FROM sqlite_master WHERE name = 'audit_log'").get()).toEqual({ n: 0 })
      expect(store.auditDb.prepare('SELECT id, request_id FROM audit_log ORDER BY id').all()).toEqual([1, 2, 3].map((id) => ({ id, request_id: `r${id - 1}` })))
      const id = store.audit.insert({ at: '2026-11-23T00:00:00.000Z', user_id: null, user_email: null, via: 'local', key_fingerprint: null, token_id: null, door: 'local', remote_address: null, verb: 'ls', machines: null, args: null, code: 'ok', duration_ms: 1, request_id: 'r3' })
      expect(id).toBe(4)
    } finally {
      store.close()
    }
  })
  it('a move interrupted after the copy is completed on the next open, without duplicates', () => {
    const path = tmp()
    const old = openDatabase(path, MIGRATIONS.filter((m) => m.version <= 5))
    old.prepare("INSERT INTO audit_log (at, via, door, verb, code, duration_ms, request_id) VALUES ('2026-11-20T00:00:00.000Z', 'local', 'local', 'whoami', 'ok', 1, 'r0')").run()
    old.close()
    // The copy committed to audit.db, then the process died before boxd.db dropped its table.
    const audit = openAuditDatabase(join(path, '..', 'audit.db'))
    audit.prepare("INSERT INTO audit_log (id, at, via, door, verb, code, duration_ms, request_id) VALUES (1, '2026-11-20T00:00:00.000Z', 'local', 'local', 'whoami', 'ok', 1, 'r0')").run()
    audit.close()
    const store = Store.open(path)
    try {
      expect(store.auditDb.prepare('SELECT request_id FROM audit_log').pluck().all()).toEqual(['r0'])
    } finally {
      store.close()
    }
  })
})

describe('Store.generation (what the authentication cache keys on)', () => {
  it('moves on any write of this connection and on another connection\'s commit; not on reads or audit rows; NaN inside a transaction', () => {
    const path = tmp()
    const store = Store.open(path)
    try {
      const g0 = store.generation()
      store.users.list()
      expect(store.generation()).toBe(g0)
      // The audit trail is another file: one row per verb call must not empty the cache.
      store.audit.insert({ at: '2026-11-23T00:00:00.000Z', user_id: null, user_email: null, via: 'local', key_fingerprint: null, token_id: null, door: 'local', remote_address: null, verb: 'ls', machines: null, args: null, code: 'ok', duration_ms: 1, request_id: 'r' })
      expect(store.generation()).toBe(g0)
      store.db.prepare("INSERT INTO users (id, email, role, created_at) VALUES ('u1', 'a@b.c', 'user', 'now')").run()
      const g1 = store.generation()
      expect(g1).not.toBe(g0)
      const other = new Database(path)
      other.prepare("UPDATE users SET status = 'disabled' WHERE id = 'u1'").run()
      other.close()
      const g2 = store.generation()
      expect(g2).not.toBe(g1)
      store.tx(() => { expect(store.generation()).toBeNaN() })
      expect(store.generation()).toBe(g2)
    } finally {
      store.close()
    }
  })
})
