// Machine verbs and the service's state keeping, over a real SQLite store and an in-memory driver.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { addUser, makeApp, principalFor, run, type TestApp } from '../helpers/app.js'
import { FakeDriver } from '../helpers/fake-driver.js'
import type { User } from '../../src/store/index.js'

let app: TestApp
let driver: FakeDriver
let alice: User
let bob: User
beforeEach(() => {
  driver = new FakeDriver()
  app = makeApp({ driver, config: { maxMachines: 3 } })
  alice = addUser(app, 'alice@example.com').user
  bob = addUser(app, 'bob@example.com').user
})
afterEach(() => app.cleanup())

const ok = async (u: User, line: string) => {
  const o = await run(app, u, `${line} --json`)
  if (!o.ok) throw new Error(`${line}: ${o.stderr}`)
  return JSON.parse(o.stdout)
}

describe('new', () => {
  it('returns the pinned JSON fields and a running machine', async () => {
    const m = await ok(alice, 'new --name=web --tag ci --env A=1')
    expect(Object.keys(m).sort()).toEqual(['comment', 'created_at', 'driver', 'https_url', 'image', 'name', 'proxy_port', 'ssh_command', 'ssh_dest', 'status', 'tags'])
    expect(m).toMatchObject({ name: 'web', status: 'running', image: 'host', driver: 'sandbox', ssh_command: 'ssh -p 2222 web@boxd.localhost', ssh_dest: 'web@boxd.localhost', https_url: 'https://web.boxd.localhost:8443/', proxy_port: 8000, tags: ['ci'] })
    expect([...driver.machines.values()][0]).toMatchObject({ running: true, spec: { name: 'web', env: { A: '1' } } })
  })
  it('generates a two-word name when none is given', async () => {
    expect((await ok(alice, 'new')).name).toMatch(/^[a-z]+-[a-z]+$/)
  })
  it.each([
    ['new --name=Web', 2], ['new --name=web-8080', 2], ['new --name=-web', 2], [`new --name=${'a'.repeat(64)}`, 2],
    ['new --env NOPE', 2], ['new --tag "bad tag"', 2], ['new --network host', 4], ['new --memory lots', 2],
  ])('%s → exit %i', async (line, exit) => {
    expect((await run(app, alice, line)).exit).toBe(exit)
    expect(driver.machines.size).toBe(0)
  })
  it('a taken name → conflict, for anyone', async () => {
    await ok(alice, 'new --name=web')
    const o = await run(app, bob, 'new --name=web')
    expect([o.exit, o.error?.code]).toEqual([7, 'conflict'])
  })
  it('concurrent `new` on one name: exactly one wins', async () => {
    const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => run(app, i % 2 ? alice : bob, 'new --name=race')))
    expect(outs.filter((o) => o.ok)).toHaveLength(1)
    expect(outs.filter((o) => o.error?.code === 'conflict')).toHaveLength(7)
    expect(driver.machines.size).toBe(1)
  })
  it('quota → quota_exceeded (9)', async () => {
    for (const n of ['a', 'b', 'c']) await ok(alice, `new --name=${n}`)
    const o = await run(app, alice, 'new --name=d')
    expect([o.exit, o.error?.code]).toEqual([9, 'quota_exceeded'])
  })
  it('a driver failure leaves neither a row nor a driver machine', async () => {
    driver.failNext.start = 'boom'
    const o = await run(app, alice, 'new --name=web')
    expect([o.exit, o.error?.code]).toEqual([1, 'failed'])
    expect(o.error?.message).toMatch(/could not create web: boom/)
    expect(app.services.store.machines.all()).toHaveLength(0)
    expect(driver.machines.size).toBe(0)
  })
})

describe('lifecycle verbs', () => {
  beforeEach(async () => { await ok(alice, 'new --name=web --tag prod'); await ok(alice, 'new --name=db') })

  it('ls lists only your machines; globs match names or tags', async () => {
    await ok(bob, 'new --name=bobs')
    expect((await ok(alice, 'ls')).machines.map((m: { name: string }) => m.name)).toEqual(['db', 'web'])
    expect((await ok(alice, 'ls prod')).machines.map((m: { name: string }) => m.name)).toEqual(['web'])
    expect((await ok(alice, "ls 'd*'")).machines.map((m: { name: string }) => m.name)).toEqual(['db'])
    expect((await ok(bob, 'ls')).machines.map((m: { name: string }) => m.name)).toEqual(['bobs'])
  })
  it('stop keeps the disk, start brings it back, restart does both', async () => {
    expect((await ok(alice, 'stop web')).machines[0].status).toBe('stopped')
    expect(driver.machines.size).toBe(2)
    expect((await ok(alice, 'stat web')).driver_state).toBe('stopped')
    expect((await ok(alice, 'start web')).machines[0].status).toBe('running')
    expect((await ok(alice, 'restart web')).status).toBe('running')
  })
  it('rm reports partial success', async () => {
    const r = await ok(alice, 'rm web nosuch')
    expect(r).toEqual({ deleted: ['web'], failed: [{ name: 'nosuch', error: 'machine "nosuch" not found', code: 'not_found' }] })
    expect((await run(app, alice, 'rm nosuch')).exit).toBe(6)
  })
  it('rename, tag, comment', async () => {
    expect((await ok(alice, 'rename web www')).name).toBe('www')
    expect((await run(app, alice, 'rename www db')).error?.code).toBe('conflict')
    expect((await ok(alice, 'tag www eu us')).tags).toEqual(['eu', 'prod', 'us'])
    expect((await ok(alice, 'tag -d www eu')).tags).toEqual(['prod', 'us'])
    expect((await ok(alice, 'comment www staging for PR 42')).comment).toBe('staging for PR 42')
  })
  it('stat says what the driver knows, including missing cgroups', async () => {
    const s = await ok(alice, 'stat web')
    expect(s).toMatchObject({ name: 'web', status: 'running', driver_state: 'running', limits: { cgroup: 'none', note: 'fake driver' } })
  })

  const crossUser = ['stat web', 'stop web', 'start web', 'restart web', 'rm web', 'rename web x', 'tag web t', 'comment web hi', 'rebuild web']
  it.each(crossUser)('attack: another user running `%s` on your machine gets not_found and changes nothing', async (line) => {
    const before = app.services.store.machines.byName('web')
    const o = await run(app, bob, line)
    expect([o.exit, o.error?.code, o.error?.message]).toEqual([6, 'not_found', 'machine "web" not found'])
    expect(app.services.store.machines.byName('web')).toEqual(before)
    expect(driver.machines.get(before!.id)?.running).toBe(true)
  })
  it.each(crossUser)('attack: a token limited to machines ["db"] running `%s` on web gets not_found', async (line) => {
    const principal = principalFor(alice, 'token', { token: { id: 't', claims: { cmds: [line.split(' ')[0]], machines: ['db'] } } })
    const o = await app.dispatcher.dispatch({ line, principal, door: 'http' })
    expect(o.error?.code).toBe('not_found')
  })
  it('a token limited to some machines sees only those in ls, and must name new ones', async () => {
    const principal = principalFor(alice, 'token', { token: { id: 't', claims: { cmds: ['ls', 'new'], machines: ['d*'] } } })
    const ls = await app.dispatcher.dispatch({ line: 'ls', principal, door: 'http', forceJson: true })
    expect((ls.data as { machines: { name: string }[] }).machines.map((m) => m.name)).toEqual(['db'])
    expect((await app.dispatcher.dispatch({ line: 'new', principal, door: 'http' })).error?.code).toBe('usage')
    expect((await app.dispatcher.dispatch({ line: 'new --name=web2', principal, door: 'http' })).error?.code).toBe('not_found')
  })
})

describe('reconcile', () => {
  it('removes orphans, restarts what should run, stops what should not, marks failures', async () => {
    await ok(alice, 'new --name=web')
    await ok(alice, 'new --name=db')
    await ok(alice, 'new --name=gone')
    await ok(alice, 'stop db')
    const [web, db, gone] = ['web', 'db', 'gone'].map((n) => app.services.store.machines.byName(n)!)
    driver.machines.get(web.id)!.running = false   // died while boxd was down
    driver.machines.get(db.id)!.running = true     // came back although stopped
    driver.machines.delete(gone.id)                // disk lost
    await driver.create({ id: 'm_orphan', name: 'orphan', image: 'host', env: {}, network: 'none' })
    driver.failNext.create = 'disk gone'
    const r = await app.services.machines.reconcile()
    expect(r).toEqual({ orphans_removed: ['m_orphan'], started: ['web'], stopped: ['db'], failed: ['gone'] })
    expect(app.services.store.machines.byName('gone')).toMatchObject({ status: 'failed', status_reason: 'disk gone' })
    expect(driver.machines.has('m_orphan')).toBe(false)
  })
})

describe('tasks', () => {
  it('new --no-wait answers {task_id, status, name} with HTTP 202, and the task finishes', async () => {
    const o = await run(app, alice, 'new --name=later --no-wait --json')
    expect([o.exit, o.http]).toEqual([0, 202])
    const t = JSON.parse(o.stdout)
    expect(t).toEqual({ task_id: expect.stringMatching(/^tsk_/), status: 'running', name: 'later' })
    for (let i = 0; i < 100 && (await ok(alice, `task show ${t.task_id}`)).status === 'running'; i++) await new Promise((r) => setTimeout(r, 10))
    const done = await ok(alice, `task show ${t.task_id}`)
    expect(done).toMatchObject({ status: 'succeeded', kind: 'new', result: { name: 'later', status: 'running' } })
  })
  it('new --no-wait still refuses a taken name at once', async () => {
    await ok(alice, 'new --name=web')
    const o = await run(app, alice, 'new --name=web --no-wait')
    expect([o.exit, o.http]).toEqual([7, 409])
  })
  it('a waiting new reports progress lines', async () => {
    const lines: string[] = []
    const o = await run(app, alice, 'new --name=web', { progress: (m) => lines.push(m) })
    expect(o.ok).toBe(true)
    expect(lines).toEqual(['creating web (host)', 'starting web'])
  })
  it('rm of a machine in a task: failures keep their code', async () => {
    const o = await run(app, alice, 'rm nosuch')
    expect([o.exit, o.error?.code]).toEqual([6, 'not_found'])
  })
})
