import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DispatchObserver } from '../../src/services.js'
import type { User } from '../../src/store/index.js'
import { addUser, makeApp, newPublicKey, principalFor, run, type TestApp } from '../helpers/app.js'
import { runJson } from './apps.js'

let app: TestApp
let admin: User
let bob: User
beforeEach(() => {
  app = makeApp()
  admin = addUser(app, 'admin@example.com', 'admin').user
  bob = addUser(app, 'bob@example.com').user
})
afterEach(() => app.cleanup())

const rows = () => app.services.store.auditDb.prepare('SELECT * FROM audit_log ORDER BY id').all() as Record<string, unknown>[]
/** Every byte SQLite holds for the data dir: both files and their WALs. */
const dbBytes = () => {
  const parts = ['boxd.db', 'boxd.db-wal', 'audit.db', 'audit.db-wal'].map((f) => { try { return readFileSync(join(app.dir, f)) } catch { return Buffer.alloc(0) } })
  return Buffer.concat(parts)
}

describe('audit recorder', () => {
  it('records a call from each door: who, credential, door, address, verb, args, code, duration, request id', async () => {
    const fp = app.services.store.keys.listForUser(bob.id)[0].fingerprint
    await app.dispatcher.dispatch({ line: 'whoami', door: 'ssh', requestId: 'req-ssh', principal: principalFor(bob, 'ssh-key', { keyFingerprint: fp, remoteAddress: '127.0.0.7' }) })
    await app.dispatcher.dispatch({
      line: 'ssh-key list --json', door: 'http', requestId: 'req-http',
      principal: principalFor(bob, 'token', { keyFingerprint: fp, remoteAddress: '127.0.0.8', token: { id: 'tok_abc', claims: { cmds: ['ssh-key list'] } } }),
    })
    await run(app, bob, 'ssh-key rename nope x', { requestId: 'req-local' })
    const r = rows()
    expect(r).toHaveLength(3)
    expect(r[0]).toMatchObject({ user_id: bob.id, user_email: 'bob@example.com', via: 'ssh-key', key_fingerprint: fp, token_id: null, door: 'ssh', remote_address: '127.0.0.7', verb: 'whoami', code: 'ok', request_id: 'req-ssh', args: '{"args":{},"flags":{}}' })
    expect(r[1]).toMatchObject({ via: 'token', token_id: 'tok_abc', door: 'http', remote_address: '127.0.0.8', verb: 'ssh-key list', code: 'ok', request_id: 'req-http' })
    expect(r[2]).toMatchObject({ via: 'local', door: 'local', remote_address: null, verb: 'ssh-key rename', code: 'not_found', request_id: 'req-local' })
    expect(JSON.parse(r[2].args as string)).toEqual({ args: { old: 'nope', new: 'x' }, flags: {} })
    for (const row of r) expect(typeof row.duration_ms).toBe('number')
  })

  it('the row exists before the door can write the answer (observers after it already see it)', async () => {
    let seen = -1
    const probe: DispatchObserver = { after: (e) => { seen = app.services.store.auditDb.prepare('SELECT count(*) n FROM audit_log WHERE request_id = ?').pluck().get(e.outcome.requestId) as number } }
    app.services.observers.push(probe)
    await run(app, bob, 'whoami', { requestId: 'r1' })
    expect(seen).toBe(1)
  })

  it('records refusals too: forbidden, unknown, usage, rate limits', async () => {
    await run(app, bob, 'user ls')
    await run(app, bob, 'frobnicate now')
    await run(app, bob, 'ssh-key rename')
    expect(rows().map((r) => [r.verb, r.code])).toEqual([['user ls', 'forbidden'], ['frobnicate', 'unknown_command'], ['ssh-key rename', 'usage']])
  })

  it('secrets never reach the audit table: declared secrets, tokens, private keys, webhook secrets, URL credentials', async () => {
    const token = `boxd0.eyJjbWRzIjpbXX0.${'A'.repeat(60)}SECRETPART`
    const whsec = 'whsec_supersecretvalue_0123456789'
    const plain = 'plain-secret-for-webhook-0123'
    await run(app, bob, `ssh-key add ${token}`)
    await run(app, bob, `webhook add http://127.0.0.1:9/x?key=querysecret123 --secret ${plain}`)
    await run(app, bob, `webhook add http://127.0.0.1:9/y --secret ${whsec}`)
    await run(app, bob, 'ssh-key add -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ -----END OPENSSH PRIVATE KEY-----')
    await run(app, bob, `${token} whoami`) // a token pasted where the verb goes
    await run(app, bob, `ssh-key rename --bogus ${token}`) // fails to parse: no args kept at all
    const r = rows()
    expect(r).toHaveLength(6)
    const text = JSON.stringify(r)
    for (const s of ['SECRETPART', plain, whsec, 'querysecret123', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ']) expect(text).not.toContain(s)
    expect(r[4].verb).toBe('[redacted]')
    expect(r[5]).toMatchObject({ verb: 'ssh-key rename', code: 'usage', args: null })
    expect(JSON.parse(r[1].args as string).flags.secret).toBe('[redacted]')
    // …nor the file on disk (main database and WAL), where a deleted-but-not-overwritten page could hide one.
    app.services.store.db.pragma('wal_checkpoint(TRUNCATE)')
    app.services.store.auditDb.pragma('wal_checkpoint(TRUNCATE)')
    const bytes = dbBytes()
    // (The webhook's own URL, query included, is stored in its row: its owner needs it.)
    for (const s of ['SECRETPART', plain, whsec]) expect(bytes.includes(s), s).toBe(false)
  })

  it('a line that never resolved keeps its first word only', async () => {
    await run(app, bob, 'deploy --password hunter2 prod')
    expect(rows()[0]).toMatchObject({ verb: 'deploy', args: null, code: 'unknown_command' })
    expect(JSON.stringify(rows())).not.toContain('hunter2')
  })
})

describe('audit verb', () => {
  it('attack: a user cannot read another user\'s audit, by default or with --user', async () => {
    await run(app, admin, 'whoami')
    await run(app, bob, 'whoami')
    const mine = await runJson(app, bob, 'audit')
    expect(mine.data.entries.map((e: { user: string }) => e.user)).toEqual(['bob@example.com', 'bob@example.com'].slice(0, mine.data.entries.length))
    expect(mine.data.entries.every((e: { user_id: string }) => e.user_id === bob.id)).toBe(true)
    const other = await run(app, bob, 'audit --user admin@example.com')
    expect(other.error?.code).toBe('forbidden')
    expect((await runJson(app, bob, 'audit --user bob@example.com')).exit).toBe(0)
  })

  it('admins see everyone and filter by user, verb group, machine and time', async () => {
    await run(app, bob, 'whoami')
    app.clock.advance(2 * 3600_000)
    await run(app, bob, `ssh-key add ${newPublicKey('k')}`)
    await run(app, bob, 'stop web db') // not_found, but the machines are named
    await run(app, admin, 'whoami')
    const all = await runJson(app, admin, 'audit')
    expect(Object.keys(all.data)).toEqual(['entries'])
    expect(Object.keys(all.data.entries[0]).sort()).toEqual(['args', 'code', 'door', 'duration_ms', 'id', 'key_fingerprint', 'machines', 'remote_address', 'request_id', 'time', 'token_id', 'user', 'user_id', 'verb', 'via'])
    // Newest first; the audit call itself is recorded once it has answered.
    expect(all.data.entries.map((e: { verb: string }) => e.verb)).toEqual(['whoami', 'stop', 'ssh-key add', 'whoami'])
    const bobs = await runJson(app, admin, 'audit --user bob@example.com')
    expect(bobs.data.entries.map((e: { verb: string }) => e.verb)).toEqual(['stop', 'ssh-key add', 'whoami'])
    expect((await runJson(app, admin, 'audit --verb ssh-key')).data.entries.map((e: { verb: string }) => e.verb)).toEqual(['ssh-key add'])
    expect((await runJson(app, admin, 'audit --machine db')).data.entries.map((e: { machines: string[] }) => e.machines)).toEqual([['web', 'db']])
    expect((await runJson(app, admin, 'audit --user bob@example.com --since 1h')).data.entries.map((e: { verb: string }) => e.verb)).toEqual(['stop', 'ssh-key add'])
    expect((await runJson(app, admin, 'audit --user bob@example.com --until 1h')).data.entries.map((e: { verb: string }) => e.verb)).toEqual(['whoami'])
    expect((await runJson(app, admin, 'audit --since 2026-11-23T13:00:00Z --limit 1')).data.entries).toHaveLength(1)
    expect((await run(app, admin, 'audit --since yesterday')).error?.code).toBe('usage')
  })

  it('the trail of a removed account stays, and admins find it by email', async () => {
    await run(app, bob, 'whoami')
    expect((await run(app, admin, 'user rm bob@example.com')).exit).toBe(0)
    const r = await runJson(app, admin, 'audit --user bob@example.com')
    expect(r.exit).toBe(6) // no such user any more: --user resolves accounts…
    const all = await runJson(app, admin, 'audit --verb whoami')
    expect(all.data.entries.some((e: { user: string }) => e.user === 'bob@example.com')).toBe(true) // …but the rows are there
  })

  it('retention: rows older than the retention are pruned by the background', async () => {
    await run(app, bob, 'whoami')
    app.clock.advance(89 * 86400_000)
    await run(app, bob, 'whoami')
    app.services.background.prune()
    expect(rows()).toHaveLength(2)
    app.clock.advance(2 * 86400_000)
    app.services.background.prune()
    expect(rows()).toHaveLength(1)
  })
})
