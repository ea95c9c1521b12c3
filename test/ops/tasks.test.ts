import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CommandError } from '../../src/errors.js'
import type { User } from '../../src/store/index.js'
import { addUser, makeApp, type TestApp } from '../helpers/app.js'
import { openApp, runJson } from './apps.js'

let app: TestApp
let bob: User
let admin: User
beforeEach(() => {
  app = makeApp()
  admin = addUser(app, 'admin@example.com', 'admin').user
  bob = addUser(app, 'bob@example.com').user
})
afterEach(() => app.cleanup())

describe('task runner', () => {
  it('returns the id at once; records progress, then the result', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => { release = r })
    const lines: string[] = []
    const t = app.services.tasks.run('new', bob.id, async (progress) => {
      progress('creating disk')
      await gate
      progress('starting')
      return { machine: 'web' }
    }, { onProgress: (l) => lines.push(l) })
    expect(t).toMatchObject({ status: 'running' })
    expect(t.task_id).toMatch(/^tsk_/)
    await new Promise((r) => setTimeout(r, 10))
    expect((await runJson(app, bob, `task show ${t.task_id}`)).data).toMatchObject({ status: 'running', progress: 'creating disk', kind: 'new' })
    release()
    const done = await t.done
    expect(done).toMatchObject({ task_id: t.task_id, status: 'succeeded', result: { machine: 'web' }, progress: 'starting', error: null })
    expect(lines).toEqual(['creating disk', 'starting'])
    const shown = (await runJson(app, bob, `task show ${t.task_id}`)).data
    expect(Object.keys(shown)).toEqual(['task_id', 'kind', 'status', 'progress', 'result', 'error', 'user_id', 'created_at', 'updated_at', 'finished_at'])
    expect(shown.finished_at).toBe('2026-11-23T12:00:00.000Z')
  })

  it('a CommandError is the task\'s error as is; anything else is internal, without detail', async () => {
    const a = await app.services.tasks.run('new', bob.id, async () => { throw new CommandError('quota_exceeded', 'too many machines', { hint: 'remove one' }) }).done
    expect(a).toMatchObject({ status: 'failed', error: { error: 'too many machines', code: 'quota_exceeded', hint: 'remove one' } })
    const b = await app.services.tasks.run('new', bob.id, async () => { throw new Error('/var/lib/secret path leaked') }).done
    expect(b.error).toEqual({ error: `internal error (task ${b.task_id})`, code: 'internal' })
  })

  it('tasks left running by a crashed server are marked failed when the next one starts', async () => {
    app.services.tasks.run('rebuild', bob.id, () => new Promise(() => {})) // never settles
    const id = (await runJson(app, bob, 'task ls')).data.tasks[0].task_id
    app.close()
    const again = openApp(app.dir, app.clock)
    try {
      again.services.background.start()
      await again.services.background.stop()
      expect(again.services.tasks.get(id)).toMatchObject({ status: 'failed' })
      expect(JSON.parse(again.services.tasks.get(id)!.error!).error).toMatch(/restarted/)
    } finally {
      again.close()
    }
  })
})

describe('task verbs', () => {
  it('attack: another user\'s task is not_found; admins may look at any', async () => {
    const t = app.services.tasks.run('new', bob.id, async () => 1)
    await t.done
    const carol = addUser(app, 'carol@example.com').user
    expect((await runJson(app, carol, `task show ${t.task_id}`)).code).toBe('not_found')
    expect((await runJson(app, carol, 'task ls')).data.tasks).toEqual([])
    expect((await runJson(app, admin, `task show ${t.task_id}`)).exit).toBe(0)
    expect((await runJson(app, admin, 'task ls')).data.tasks).toHaveLength(1)
    expect((await runJson(app, carol, 'task ls --user bob@example.com')).code).toBe('forbidden')
  })

  it('task ls filters by status, newest first', async () => {
    await app.services.tasks.run('a', bob.id, async () => 1).done
    app.clock.advance(1000)
    await app.services.tasks.run('b', bob.id, async () => { throw new CommandError('failed', 'no') }).done
    const all = (await runJson(app, bob, 'task ls')).data.tasks
    expect(all.map((t: { kind: string }) => t.kind)).toEqual(['b', 'a'])
    expect((await runJson(app, bob, 'task ls --status failed')).data.tasks.map((t: { kind: string }) => t.kind)).toEqual(['b'])
  })
})
