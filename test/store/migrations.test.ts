import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/store/db.js'
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
})
