import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import type { User } from '../../src/store/index.js'
import { addUser, makeApp, newPublicKey, principalFor, run, type TestApp } from '../helpers/app.js'

let app: TestApp
let admin: User
let bob: User
beforeEach(() => {
  app = makeApp()
  admin = addUser(app, 'admin@example.com', 'admin').user
  bob = addUser(app, 'bob@example.com').user
})
afterEach(() => app.cleanup())

const json = async (u: User, line: string) => {
  const o = await run(app, u, `${line} --json`)
  return { exit: o.exit, code: o.error?.code, data: o.stdout ? JSON.parse(o.stdout) : undefined }
}
const adminVerbs = commands.filter((c) => c.admin)
const ARGS: Record<string, string> = {
  'user ls': '', 'user add': 'eve@example.com', 'user disable': 'admin@example.com', 'user enable': 'admin@example.com',
  'user expire': 'admin@example.com 1h', 'user rm': 'admin@example.com --yes', 'user set-role': 'bob@example.com admin',
}

describe('admin gates', () => {
  it('every user verb is declared admin', () => {
    const userVerbs = commands.filter((c) => c.name.startsWith('user '))
    expect(userVerbs.map((c) => c.name).sort()).toEqual(Object.keys(ARGS).sort())
    for (const c of userVerbs) expect(c.admin, c.name).toBe(true)
  })

  it.each(adminVerbs.map((c) => [c.name]))('attack: a non-admin running `%s` gets forbidden and changes nothing', async (name) => {
    const before = JSON.stringify(app.services.store.users.list())
    const o = await run(app, bob, `${name} ${ARGS[name] ?? ''}`)
    expect([o.exit, o.error?.code]).toEqual([4, 'forbidden'])
    expect(JSON.stringify(app.services.store.users.list())).toBe(before)
  })

  it('admin verbs are listed in help only for admins', async () => {
    const names = async (u: User) => (await json(u, 'help')).data.verbs.map((v: { name: string }) => v.name)
    expect(await names(bob)).not.toContain('user ls')
    expect(await names(admin)).toEqual(expect.arrayContaining(adminVerbs.map((c) => c.name)))
    expect((await run(app, bob, 'help user rm')).error?.code).toBe('not_found')
  })

  it('attack: an admin demoted mid-session loses admin verbs at once', async () => {
    const carol = addUser(app, 'carol@example.com', 'admin').user
    const stale = principalFor(carol) // role "admin", read at login
    expect((await run(app, admin, 'user set-role carol@example.com user')).exit).toBe(0)
    const o = await app.dispatcher.dispatch({ line: 'user ls', principal: stale, door: 'ssh' })
    expect(o.error?.code).toBe('forbidden')
  })
})

describe('disabled and expired users are refused mid-session', () => {
  it('user disable: the open session\'s next command is unauthenticated; enable lets it back', async () => {
    const session = principalFor(bob, 'ssh-key')
    expect((await app.dispatcher.dispatch({ line: 'whoami', principal: session, door: 'ssh' })).exit).toBe(0)
    expect((await json(admin, 'user disable bob@example.com')).data).toMatchObject({ email: 'bob@example.com', status: 'disabled', active: false })
    const o = await app.dispatcher.dispatch({ line: 'whoami', principal: session, door: 'ssh' })
    expect([o.exit, o.http, o.error?.code]).toEqual([3, 401, 'unauthenticated'])
    expect((await app.dispatcher.dispatch({ line: 'ssh-key add x', principal: session, door: 'http' })).error?.code).toBe('unauthenticated')
    await run(app, admin, 'user enable bob@example.com')
    expect((await app.dispatcher.dispatch({ line: 'whoami', principal: session, door: 'ssh' })).exit).toBe(0)
  })

  it('user expire: refused once the time passes; `never` lifts it', async () => {
    const r = await json(admin, 'user expire bob@example.com 1h')
    expect(r.data.expires_at).toBe('2026-11-23T13:00:00.000Z')
    expect((await run(app, bob, 'whoami')).exit).toBe(0)
    app.clock.advance(3600_000 + 1)
    expect((await run(app, bob, 'whoami')).error?.code).toBe('unauthenticated')
    expect((await json(admin, 'user ls')).data.users.find((u: { email: string }) => u.email === 'bob@example.com')).toMatchObject({ active: false, status: 'active' })
    await run(app, admin, 'user expire bob@example.com never')
    expect((await run(app, bob, 'whoami')).exit).toBe(0)
    expect((await run(app, admin, 'user expire bob@example.com 2027-01-01T00:00:00Z')).exit).toBe(0)
    expect(app.services.store.users.get(bob.id)?.expires_at).toBe('2027-01-01T00:00:00.000Z')
  })
})

describe('user verbs', () => {
  it('user ls pins the JSON fields', async () => {
    const r = await json(admin, 'user ls')
    expect(Object.keys(r.data)).toEqual(['users'])
    expect(Object.keys(r.data.users[0])).toEqual(['id', 'email', 'role', 'status', 'active', 'expires_at', 'created_at', 'ssh_keys', 'machines'])
    expect(r.data.users.map((u: { email: string }) => u.email)).toEqual(['admin@example.com', 'bob@example.com'])
  })

  it('user add: with a key as a flag or on stdin (--key -); duplicates conflict', async () => {
    const key = newPublicKey('eve')
    expect((await json(admin, `user add eve@example.com --key '${key}'`)).data).toMatchObject({ email: 'eve@example.com', role: 'user', ssh_keys: 1 })
    const o = await app.dispatcher.dispatch({ line: 'user add dan@example.com --key - --admin --json', principal: principalFor(admin), door: 'ssh', stdin: async () => Buffer.from(`${newPublicKey('dan')}\n`) })
    expect(JSON.parse(o.stdout)).toMatchObject({ email: 'dan@example.com', role: 'admin', ssh_keys: 1 })
    expect((await json(admin, 'user add eve@example.com')).code).toBe('conflict')
    expect((await json(admin, 'user add nokey@example.com')).data.ssh_keys).toBe(0)
    expect((await json(admin, 'user add bad@example.com --key nonsense')).code).toBe('usage')
    expect(app.services.store.users.findByEmail('bad@example.com')).toBeUndefined()
  })

  it('an admin cannot lock themselves out, and the last admin stays an admin', async () => {
    expect((await json(admin, 'user disable admin@example.com')).code).toBe('conflict')
    expect((await json(admin, 'user expire admin@example.com 1d')).code).toBe('conflict')
    expect((await json(admin, 'user rm admin@example.com --yes')).code).toBe('conflict')
    expect((await json(admin, 'user set-role admin@example.com user')).code).toBe('conflict')
    addUser(app, 'second@example.com', 'admin')
    expect((await json(admin, 'user set-role admin@example.com user')).data.role).toBe('user')
  })

  it('unknown user → not_found; bad role → usage', async () => {
    expect((await json(admin, 'user disable nobody@example.com')).code).toBe('not_found')
    expect((await json(admin, 'user set-role bob@example.com root')).code).toBe('usage')
  })

  it('user rm asks for --yes when machines would go, then removes machines, keys, webhooks; the session dies', async () => {
    const session = principalFor(bob, 'ssh-key')
    expect((await run(app, bob, 'new --name bobs-box')).exit).toBe(0)
    await run(app, bob, 'webhook add http://127.0.0.1:9/h')
    const o = await json(admin, 'user rm bob@example.com')
    expect(o.code).toBe('conflict')
    expect(app.services.store.users.get(bob.id)).toBeDefined()
    const r = await json(admin, 'user rm bob@example.com --yes')
    expect(r.data).toMatchObject({ removed: 'bob@example.com', machines_removed: 1, ssh_keys_removed: 1 })
    expect(app.services.store.users.get(bob.id)).toBeUndefined()
    expect(app.services.store.machines.byName('bobs-box')).toBeUndefined()
    expect(app.services.store.webhooks.listForUser(bob.id)).toEqual([])
    expect(app.services.store.db.prepare('SELECT count(*) FROM ssh_keys WHERE user_id = ?').pluck().get(bob.id)).toBe(0)
    expect((await app.dispatcher.dispatch({ line: 'whoami', principal: session, door: 'ssh' })).error?.code).toBe('unauthenticated')
    const ev = (await json(admin, 'events --type user.removed')).data.events
    expect(ev).toHaveLength(1)
    expect(ev[0]).toMatchObject({ user_id: bob.id, data: { email: 'bob@example.com', by: 'admin@example.com' } })
  })

  it('user rm without machines needs no --yes', async () => {
    expect((await json(admin, 'user rm bob@example.com')).data).toMatchObject({ removed: 'bob@example.com', machines_removed: 0 })
  })
})
