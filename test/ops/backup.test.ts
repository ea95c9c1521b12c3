import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { backupDatabase, restoreDatabase } from '../../src/ops/backup.js'
import { PID_FILE } from '../../src/ops/server-lock.js'
import { addUser, FakeClock, makeApp, run, type TestApp } from '../helpers/app.js'
import { openApp } from './apps.js'

let app: TestApp
let out: string
const children: ChildProcess[] = []
beforeEach(() => {
  app = makeApp()
  out = mkdtempSync(join(tmpdir(), 'boxd-backup-'))
})
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  app.cleanup()
  rmSync(out, { recursive: true, force: true })
})

const integrity = (file: string) => {
  const db = new Database(file, { readonly: true })
  try { return db.pragma('integrity_check', { simple: true }) } finally { db.close() }
}

/** Another process writing to the live database all the time (bounded to 20 s). */
function startWriter(dbPath: string): Promise<ChildProcess> {
  const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3')
  const script = `
    const Database = require(${JSON.stringify(betterSqlite)})
    const db = new Database(${JSON.stringify(dbPath)})
    db.pragma('journal_mode = WAL'); db.pragma('busy_timeout = 5000')
    const ins = db.prepare("INSERT INTO events (id, type, user_id, machine, data, created_at) VALUES (?, 'machine.running', NULL, 'web', ?, ?)")
    const end = Date.now() + 20000
    let n = 0
    process.stdout.write('ready\\n')
    const tick = () => {
      if (Date.now() > end) return process.exit(0)
      db.transaction(() => { for (let i = 0; i < 20; i++) ins.run('evt_' + process.pid + '_' + (n++), 'x'.repeat(200), new Date().toISOString()) })()
      setTimeout(tick, 1) // steady, not flat out: the database stays small enough to copy in a loaded CI
    }
    tick()`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('writer did not start')), 10_000)
    child.stdout!.once('data', () => { clearTimeout(timer); resolve(child) })
    child.once('exit', (code) => reject(new Error(`writer exited ${code}`)))
  })
}

describe('boxd backup', () => {
  it('a backup of a live, writing database passes PRAGMA integrity_check', async () => {
    addUser(app, 'a@example.com', 'admin')
    const writer = await startWriter(join(app.dir, 'boxd.db'))
    const counts: number[] = []
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 150))
      const r = await backupDatabase({ dataDir: app.dir, to: join(out, `b${i}.db`) })
      expect(r).toMatchObject({ integrity: 'ok', file: join(out, `b${i}.db`) })
      expect(integrity(r.file)).toBe('ok')
      const db = new Database(r.file, { readonly: true })
      counts.push(db.prepare('SELECT count(*) FROM events').pluck().get() as number)
      expect(db.prepare('SELECT email FROM users').pluck().all()).toEqual(['a@example.com'])
      db.close()
      expect(statSync(r.file).mode & 0o077).toBe(0) // 0600: it holds accounts and keys
      expect(existsSync(`${r.file}-wal`)).toBe(false) // self-contained
    }
    writer.kill('SIGKILL')
    expect(counts[2]).toBeGreaterThan(counts[0]) // the writer really was writing throughout
  })

  it('--keep N in a directory keeps the newest N', async () => {
    const clock = new FakeClock()
    const names: string[] = []
    for (let i = 0; i < 4; i++) {
      const r = await backupDatabase({ dataDir: app.dir, to: out, keep: 2, now: clock.now() })
      names.push(r.file.split('/').pop()!)
      clock.advance(1000)
    }
    expect(readdirSync(out).sort()).toEqual(names.slice(2).sort())
    expect(names[0]).toMatch(/^boxd-20261123T120000000Z\.db$/)
  })

  it('--keep with a file target is a usage error; a missing database is not_found', async () => {
    writeFileSync(join(out, 'file.db'), '')
    await expect(backupDatabase({ dataDir: app.dir, to: join(out, 'file.db'), keep: 2 })).rejects.toMatchObject({ code: 'usage' })
    await expect(backupDatabase({ dataDir: out, to: join(out, 'x.db') })).rejects.toMatchObject({ code: 'not_found' })
  })
})

describe('boxd restore', () => {
  it('restores a backup, keeping the replaced database beside it', async () => {
    const u = addUser(app, 'keep@example.com', 'admin').user
    const b = await backupDatabase({ dataDir: app.dir, to: join(out, 'b.db') })
    await run(app, u, 'user add later@example.com')
    app.close()
    const r = await restoreDatabase({ dataDir: app.dir, from: b.file })
    expect(r.previous).toMatch(/^boxd\.db\.before-restore-/)
    const again = openApp(app.dir, app.clock)
    try {
      expect(again.services.store.users.list().map((x) => x.email)).toEqual(['keep@example.com'])
    } finally {
      again.close()
    }
    const prev = new Database(join(app.dir, r.previous!), { readonly: true })
    expect(prev.prepare('SELECT count(*) FROM users').pluck().get()).toBe(2) // its WAL was folded in first
    prev.close()
  })

  it('the audit trail travels in the backup file and comes back as audit.db; the replaced trail is kept', async () => {
    const u = addUser(app, 'keep@example.com', 'admin').user
    await run(app, u, 'whoami', { requestId: 'before-backup' })
    const b = await backupDatabase({ dataDir: app.dir, to: join(out, 'b.db') })
    const file = new Database(b.file, { readonly: true })
    expect(file.prepare('SELECT request_id FROM audit_log').pluck().all()).toEqual(['before-backup'])
    file.close()
    await run(app, u, 'whoami', { requestId: 'after-backup' })
    app.close()
    const r = await restoreDatabase({ dataDir: app.dir, from: b.file })
    expect(r.previous_audit).toMatch(/^audit\.db\.before-restore-/)
    const again = openApp(app.dir, app.clock)
    try {
      expect(again.services.store.auditDb.prepare('SELECT request_id FROM audit_log').pluck().all()).toEqual(['before-backup'])
      expect(again.services.store.db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'").pluck().get()).toBe(0)
      // New rows continue after the restored ones.
      await run(again, u, 'whoami', { requestId: 'after-restore' })
      expect(again.services.store.auditDb.prepare('SELECT id FROM audit_log ORDER BY id').pluck().all()).toEqual([1, 2])
    } finally {
      again.close()
    }
    const prev = new Database(join(app.dir, r.previous_audit!), { readonly: true })
    expect(prev.prepare('SELECT request_id FROM audit_log ORDER BY id').pluck().all()).toEqual(['before-backup', 'after-backup'])
    prev.close()
  })

  it('a backup made before audit.db existed (its trail inside) restores its trail into audit.db', async () => {
    const u = addUser(app, 'keep@example.com', 'admin').user
    await run(app, u, 'whoami', { requestId: 'old-row' })
    const b = await backupDatabase({ dataDir: app.dir, to: join(out, 'b.db') })
    // Make it look like a version-5 backup: same table, older schema number.
    const file = new Database(b.file)
    file.pragma('user_version = 5')
    file.close()
    app.close()
    await restoreDatabase({ dataDir: app.dir, from: b.file })
    const again = openApp(app.dir, app.clock)
    try {
      expect(again.services.store.auditDb.prepare('SELECT request_id FROM audit_log').pluck().all()).toEqual(['old-row'])
    } finally {
      again.close()
    }
  })

  it('refuses while a server holds the data dir; a stale pid file does not block', async () => {
    const b = await backupDatabase({ dataDir: app.dir, to: join(out, 'b.db') })
    const server = spawn('sleep', ['30'])
    children.push(server)
    writeFileSync(join(app.dir, PID_FILE), `${server.pid}\n`)
    await expect(restoreDatabase({ dataDir: app.dir, from: b.file })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining(`pid ${server.pid}`) })
    server.kill('SIGKILL')
    await new Promise((r) => server.once('exit', r))
    app.close()
    await expect(restoreDatabase({ dataDir: app.dir, from: b.file })).resolves.toMatchObject({ schema_version: expect.any(Number) })
  })

  it('refuses a backup from a newer boxd', async () => {
    const b = await backupDatabase({ dataDir: app.dir, to: join(out, 'b.db') })
    const db = new Database(b.file)
    db.pragma('user_version = 9999')
    db.close()
    app.close()
    await expect(restoreDatabase({ dataDir: app.dir, from: b.file })).rejects.toMatchObject({ code: 'failed', message: expect.stringMatching(/newer than this boxd/) })
    expect(readdirSync(app.dir).filter((f) => f.includes('restor'))).toEqual([])
  })

  it('a started server writes its pid file and removes it on stop', async () => {
    app.services.background.start()
    expect(existsSync(join(app.dir, PID_FILE))).toBe(true)
    await app.services.background.stop()
    expect(existsSync(join(app.dir, PID_FILE))).toBe(false)
  })
})
