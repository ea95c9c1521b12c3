import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { CommandError } from '../../src/errors.js'
import { addUser, makeApp, principalFor, run, type TestApp } from '../helpers/app.js'
import type { User } from '../../src/store/index.js'

let app: TestApp
let admin: User
beforeEach(() => { app = makeApp(); admin = addUser(app, 'root@example.com', 'admin').user })
afterEach(() => app.cleanup())

describe('help', () => {
  it('help --json lists every verb with args and flags', async () => {
    const d = JSON.parse((await run(app, admin, 'help --json')).stdout)
    expect(d.verbs.map((v: { name: string }) => v.name).sort()).toEqual(commands.map((c) => c.name).sort())
    const add = d.verbs.find((v: { name: string }) => v.name === 'ssh-key add')
    expect(add).toMatchObject({ summary: expect.any(String), usage: expect.stringContaining('ssh-key add'), mutates: true })
    expect(add.flags.find((f: { name: string }) => f.name === '--name')).toMatchObject({ type: 'string', repeatable: false, required: false })
    expect(add.flags.find((f: { name: string }) => f.name === '--json')).toMatchObject({ type: 'bool', default: false })
  })
  it('help groups verbs by noun in text', async () => {
    const out = (await run(app, admin, 'help')).stdout
    expect(out).toMatch(/ssh-key:\n {2}ssh-key list/)
  })
  it('help <verb…> and <verb> --help show the same verb, with no side effects', async () => {
    const a = await run(app, admin, 'help ssh-key remove')
    const b = await run(app, admin, 'ssh-key remove --help')
    expect(a.stdout).toBe(b.stdout)
    expect(a.stdout).toMatch(/usage: ssh-key remove/)
    expect(app.services.store.keys.listForUser(admin.id)).toHaveLength(1)
  })
  it('--help beats bad flags and missing args', async () => {
    expect((await run(app, admin, 'ssh-key rename --bogus --help')).exit).toBe(0)
  })
  it('help for an unknown verb → not_found', async () => {
    expect((await run(app, admin, 'help nosuch')).exit).toBe(6)
  })
  it('a token without "help" in cmds cannot read help', async () => {
    const o = await app.dispatcher.dispatch({ line: 'help', door: 'http', principal: principalFor(admin, 'token', { token: { id: 't', claims: { cmds: ['whoami'] } } }) })
    expect(o.error?.code).toBe('forbidden')
  })
})

describe('dispatch', () => {
  it('unknown verb → unknown_command (5, 404) with a suggestion', async () => {
    const o = await run(app, admin, 'whoam')
    expect([o.exit, o.http, o.error?.code]).toEqual([5, 404, 'unknown_command'])
    expect(o.error?.hint).toMatch(/whoami/)
  })
  it('a noun alone lists its verbs', async () => {
    const o = await run(app, admin, 'ssh-key')
    expect(o.error?.code).toBe('unknown_command')
    expect(o.error?.hint).toMatch(/ssh-key list/)
  })
  it('empty line → usage', async () => {
    expect((await run(app, admin, '   ')).error?.code).toBe('usage')
  })
  it('--json errors are JSON on stdout and human on stderr', async () => {
    const o = await run(app, admin, 'ssh-key list --bogus --json')
    expect(JSON.parse(o.stdout)).toMatchObject({ code: 'usage', error: 'unknown flag --bogus', hint: expect.stringContaining('usage:') })
    expect(o.stderr).toMatch(/^error: unknown flag --bogus/)
  })
  it('an unexpected exception becomes internal (70, 500) with only a request id', async () => {
    app.services.store.db.exec('DROP TABLE ssh_keys')
    const o = await run(app, admin, 'whoami', { requestId: 'req-123' })
    expect([o.exit, o.http, o.error?.code]).toEqual([70, 500, 'internal'])
    expect(o.stderr).toBe('error: internal error (request id req-123)\n')
  })
  it('attack: token cmds are exact verb paths (no prefix match)', async () => {
    const p = principalFor(admin, 'token', { token: { id: 't', claims: { cmds: ['ssh-key'] } } })
    const o = await app.dispatcher.dispatch({ line: 'ssh-key list', door: 'http', principal: p })
    expect(o.error?.code).toBe('forbidden')
  })
  it('attack: a token with cmds [] can do nothing, not even whoami', async () => {
    const p = principalFor(admin, 'token', { token: { id: 't', claims: { cmds: [] } } })
    expect((await app.dispatcher.dispatch({ line: 'whoami', door: 'http', principal: p })).error?.code).toBe('forbidden')
  })
  it('a token without cmds gets the read-only set only', async () => {
    const p = principalFor(admin, 'token', { token: { id: 't', claims: {} } })
    expect((await app.dispatcher.dispatch({ line: 'whoami', door: 'http', principal: p })).ok).toBe(true)
    expect((await app.dispatcher.dispatch({ line: 'ssh-key rename a b', door: 'http', principal: p })).error?.code).toBe('forbidden')
  })
  it('observers see every outcome and may refuse before run', async () => {
    const seen: string[] = []
    app.services.observers.push({
      beforeRun: (e) => { if (e.mutates) throw new CommandError('rate_limited', 'slow down') },
      after: (e) => seen.push(`${e.outcome.verb}:${e.outcome.exit}`),
    })
    await run(app, admin, 'whoami')
    await run(app, admin, 'ssh-key rename a b')
    expect(seen).toEqual(['whoami:0', 'ssh-key rename:8'])
  })
})
