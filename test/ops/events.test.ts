import { afterEach, beforeEach, describe, expect, it } from 'vitest'
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

const count = (table: string) => app.services.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number

describe('emit and the outbox', () => {
  it('a state change that rolls back takes its event and outbox rows with it', async () => {
    await run(app, bob, 'webhook add http://127.0.0.1:9/hook')
    expect(() => app.services.store.tx(() => {
      app.services.events.emit('machine.created', { machine: 'web' }, { userId: bob.id, machine: 'web' })
      throw new Error('the state change failed')
    })).toThrow('the state change failed')
    expect([count('events'), count('webhook_deliveries')]).toEqual([0, 0])
  })

  it('commits with the caller\'s transaction: one outbox row per matching webhook', async () => {
    await run(app, bob, 'webhook add http://127.0.0.1:9/a')
    await run(app, bob, 'webhook add http://127.0.0.1:9/b --events machine.*')
    await run(app, bob, 'webhook add http://127.0.0.1:9/c --events port.*')
    const e = app.services.store.tx(() => app.services.events.emit('machine.running', { machine: 'web' }, { userId: bob.id, machine: 'web' }))
    expect(e.deliveries).toHaveLength(2)
    expect(count('webhook_deliveries')).toBe(2)
  })

  it('a malformed event type is a programming error', () => {
    expect(() => app.services.events.emit('Machine Created', {}, { userId: bob.id })).toThrow(/bad event type/)
  })

  it('account changes become events: ssh_key.added/removed, user.created/disabled/enabled/…', async () => {
    const k = newPublicKey('spare')
    await run(app, bob, `ssh-key add ${k}`)
    await run(app, bob, 'ssh-key remove spare')
    await run(app, admin, 'user add carol@example.com')
    await run(app, admin, 'user disable bob@example.com')
    await run(app, admin, 'user enable bob@example.com')
    await run(app, admin, 'user expire bob@example.com 30d')
    await run(app, admin, 'user set-role bob@example.com admin')
    const types = (await runJson(app, admin, 'events')).data.events.map((e: { type: string }) => e.type).reverse()
    expect(types).toEqual(['ssh_key.added', 'ssh_key.removed', 'user.created', 'user.disabled', 'user.enabled', 'user.expiry_changed', 'user.role_changed'])
  })

  it('machine state changes from the machine service arrive as events with the machine name', async () => {
    expect((await run(app, bob, 'new --name web')).exit).toBe(0)
    const ev = (await runJson(app, bob, 'events --machine web')).data.events
    expect(ev.length).toBeGreaterThan(0)
    expect(ev.map((e: { type: string }) => e.type)).toContain('machine.created')
    expect(ev.every((e: { machine: string; user_id: string }) => e.machine === 'web' && e.user_id === bob.id)).toBe(true)
  })
})

describe('events verb', () => {
  it('users see their own events only; admins see all and may filter by --user', async () => {
    app.services.events.emit('machine.stopped', {}, { userId: admin.id, machine: 'adm' })
    app.services.events.emit('machine.stopped', {}, { userId: bob.id, machine: 'bobs' })
    const mine = (await runJson(app, bob, 'events')).data.events
    expect(mine.map((e: { machine: string }) => e.machine)).toEqual(['bobs'])
    expect((await run(app, bob, 'events --user admin@example.com')).error?.code).toBe('forbidden')
    expect((await runJson(app, admin, 'events')).data.events).toHaveLength(2)
    expect((await runJson(app, admin, 'events --user bob@example.com')).data.events.map((e: { machine: string }) => e.machine)).toEqual(['bobs'])
  })

  it('filters by type glob, machine and time; pins the JSON fields', async () => {
    app.services.events.emit('machine.stopped', { a: 1 }, { userId: bob.id, machine: 'web' })
    app.clock.advance(3 * 3600_000)
    app.services.events.emit('port.opened', { port: 80 }, { userId: bob.id, machine: 'web' })
    app.services.events.emit('machine.running', {}, { userId: bob.id, machine: 'db' })
    const all = (await runJson(app, bob, 'events')).data
    expect(Object.keys(all)).toEqual(['events'])
    expect(Object.keys(all.events[0])).toEqual(['id', 'type', 'created_at', 'user_id', 'machine', 'data'])
    expect((await runJson(app, bob, 'events --type machine.*')).data.events.map((e: { type: string }) => e.type)).toEqual(['machine.running', 'machine.stopped'])
    expect((await runJson(app, bob, 'events --machine web --since 1h')).data.events.map((e: { type: string }) => e.type)).toEqual(['port.opened'])
    expect((await run(app, bob, "events --type 'a;b'")).error?.code).toBe('usage')
  })

  it('attack: a token limited to some machines does not see events of the others', async () => {
    app.services.events.emit('machine.stopped', {}, { userId: bob.id, machine: 'web' })
    app.services.events.emit('machine.stopped', {}, { userId: bob.id, machine: 'secret-db' })
    app.services.events.emit('ssh_key.added', {}, { userId: bob.id })
    const o = await app.dispatcher.dispatch({
      line: 'events --json', door: 'http',
      principal: principalFor(bob, 'token', { token: { id: 'tok_x', claims: { cmds: ['events'], machines: ['web'] } } }),
    })
    expect(JSON.parse(o.stdout).events.map((e: { machine: string | null }) => e.machine)).toEqual([null, 'web'])
  })
})
