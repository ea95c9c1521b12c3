// `boxd backup` and `boxd restore` through the real binary, against a server that is serving and
// writing (its audit trail grows with every call) in this process.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pino from 'pino'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { resolveConfig } from '../../src/app.js'
import { createUser } from '../../src/auth/accounts.js'
import { startServer, type RunningServer } from '../../src/server.js'
import { newPublicKey, principalFor } from '../helpers/app.js'
import { FakeDriver } from '../helpers/fake-driver.js'

const bin = join(import.meta.dirname, '../../dist/cli.js')
let dir: string
let server: RunningServer | undefined
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'boxd-e2e-backup-')) })
afterEach(async () => {
  await server?.close()
  server = undefined
  rmSync(dir, { recursive: true, force: true })
})

/** The real binary, asynchronously (the server in this process keeps serving meanwhile); --data-dir goes first (`run` passes later words through). */
function boxd(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, args[0], '--data-dir', join(dir, 'data'), ...args.slice(1)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = '', err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`boxd ${args.join(' ')} timed out: ${err}`)) }, 30_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }) })
  })
}

it('backup of a live, writing server passes integrity_check; restore refuses until it stops', async () => {
  const config = resolveConfig({ dataDir: join(dir, 'data'), sshPort: 0, httpPort: 0, listen: '127.0.0.1' })
  server = await startServer(config, { driver: new FakeDriver(), log: pino({ level: 'silent' }) })
  const { app } = server
  const u = createUser(app.services.store, app.services.clock, { email: 'a@example.com', role: 'admin', keyText: newPublicKey() })
  // Keep the server writing: every call is an audit row (bounded by `stop` and the test timeout).
  let stop = false
  let calls = 0
  const load = (async () => {
    while (!stop) {
      await app.dispatcher.dispatch({ line: `ssh-key rename nosuch k${calls++}`, principal: principalFor(u), door: 'local' })
      await new Promise((r) => setImmediate(r))
    }
  })()
  try {
    await new Promise((r) => setTimeout(r, 100))
    const b1 = await boxd(['backup', '--to', join(dir, 'backups'), '--keep', '2', '--json'])
    expect(b1.code, b1.err).toBe(0)
    const r1 = JSON.parse(b1.out)
    expect(r1).toMatchObject({ integrity: 'ok' })
    const b2 = await boxd(['backup', '--to', join(dir, 'backups'), '--keep', '2'])
    expect(b2.out).toMatch(/^backed up to .*boxd-\d{8}T\d{9}Z\.db \(\d+ bytes, schema \d+, integrity ok\)/)
    const db = new Database(r1.file, { readonly: true })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    const rows = db.prepare('SELECT count(*) FROM audit_log').pluck().get() as number
    db.close()
    expect(rows).toBeGreaterThan(0)
    expect(calls).toBeGreaterThan(rows) // the server kept writing after the snapshot

    const refused = await boxd(['restore', '--from', r1.file])
    expect(refused.code).toBe(7)
    expect(refused.err).toMatch(/a boxd server \(pid \d+\) is using/)
  } finally {
    stop = true
    await load
  }
  await server.close()
  server = undefined
  expect(existsSync(join(dir, 'data', 'boxd.pid'))).toBe(false)
  const backups = readdirSync(join(dir, 'backups'))
  expect(backups).toHaveLength(2)
  const restored = await boxd(['restore', '--from', join(dir, 'backups', backups.sort()[0])])
  expect(restored.code, restored.err).toBe(0)
  expect(restored.out).toMatch(/^restored .*boxd\.db from .* \(the previous database is kept as boxd\.db\.before-restore-/)
  const run = await boxd(['run', 'whoami --json'])
  expect(run.code, run.err).toBe(0)
  expect(JSON.parse(run.out).email).toBe('a@example.com')
})
