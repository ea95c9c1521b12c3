// For every verb that takes a machine (derived from the registry, so a new verb is covered
// automatically): another user's machine is not_found and unchanged, and a token's `machines`
// caveat holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { addUser, makeApp, principalFor, run, type TestApp } from '../helpers/app.js'
import { FakeDriver } from '../helpers/fake-driver.js'
import { sampleLine, takesMachine } from '../helpers/samples.js'
import type { User } from '../../src/store/index.js'

let app: TestApp
let driver: FakeDriver
let owner: User
let attacker: User
const verbs = commands.filter(takesMachine).filter((c) => c.name !== 'new')

beforeAll(async () => {
  driver = new FakeDriver()
  app = makeApp({ driver })
  owner = addUser(app, 'owner@example.com').user
  attacker = addUser(app, 'attacker@example.com', 'admin').user // even an admin: machines are per user
  for (const n of ['victim', 'mine']) {
    const o = await run(app, n === 'victim' ? owner : attacker, `new --name=${n}`)
    expect(o.ok).toBe(true)
  }
})
afterAll(() => app.cleanup())

const snapshot = () => JSON.stringify({ rows: app.services.store.machines.all(), driver: [...driver.machines.entries()] })

describe('cross-user', () => {
  it('covers the machine verbs', () => {
    expect(verbs.map((c) => c.name)).toEqual(expect.arrayContaining(['stat', 'stop', 'start', 'rm', 'rename', 'tag', 'rebuild']))
  })

  it.each(verbs.map((c) => [c.name, c] as const))('attack: `%s` on another user\'s machine is not_found and changes nothing', async (_n, c) => {
    const before = snapshot()
    const o = await run(app, attacker, sampleLine(c, 'victim'))
    expect(o.error?.code, o.stderr).toBe('not_found')
    expect(o.error?.message).toMatch(/victim/)
    expect(snapshot()).toBe(before)
  })

  it.each(verbs.map((c) => [c.name, c] as const))('attack: a token whose machines caveat excludes the target cannot `%s` it', async (_n, c) => {
    const before = snapshot()
    const principal = principalFor(attacker, 'token', { token: { id: 't', claims: { cmds: [c.name], machines: ['other-*'] } } })
    const o = await app.dispatcher.dispatch({ line: sampleLine(c, 'mine'), principal, door: 'http' })
    expect(o.error?.code, o.stderr).toBe('not_found')
    expect(snapshot()).toBe(before)
  })

  it('a missing machine and another user\'s machine answer identically (no existence oracle)', async () => {
    const a = await run(app, attacker, 'stat victim')
    const b = await run(app, attacker, 'stat nosuchmachine')
    expect(a.error?.message.replace('victim', 'X')).toBe(b.error?.message.replace('nosuchmachine', 'X'))
    expect([a.exit, a.http]).toEqual([b.exit, b.http])
  })
})
