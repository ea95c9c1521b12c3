import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { DestinationPolicy } from '../../src/ops/destinations.js'
import { Sealer } from '../../src/ops/seal.js'
import { backoffSeconds, GIVE_UP_AFTER_MS, WebhookWorker } from '../../src/ops/webhook-worker.js'
import type { User } from '../../src/store/index.js'
import { addUser, makeApp, newPublicKey, run, type TestApp } from '../helpers/app.js'
import { openApp, runJson } from './apps.js'
import { startReceiver, until, verifySignature, type Receiver } from './receiver.js'

const SECRET = 'test-secret-0123456789abcdef'
let app: TestApp
let alice: User
let rx: Receiver
const extra: App[] = []
beforeEach(async () => {
  app = makeApp()
  alice = addUser(app, 'alice@example.com', 'admin').user
  rx = await startReceiver()
})
afterEach(async () => {
  for (const a of extra.splice(0)) a.close()
  await rx.close()
  app.cleanup()
})

const unix = (a: App) => Math.floor(a.services.clock.now().getTime() / 1000)
const worker = (a: App) => (a.services.webhooks as unknown as { worker: WebhookWorker }).worker

async function addHook(a: App = app, flags = `--secret ${SECRET}`): Promise<string> {
  const r = await runJson(a, alice, `webhook add ${rx.url} ${flags}`)
  expect(r.exit).toBe(0)
  return r.data.id
}

describe('delivery', () => {
  it('an independent receiver verifies the signature over the exact body', async () => {
    const id = await addHook()
    await run(app, alice, `ssh-key add ${newPublicKey('laptop')}`)
    expect(await worker(app).runOnce()).toBe(1)
    expect(rx.received).toHaveLength(1)
    const [req] = rx.received
    expect(req.method).toBe('POST')
    expect(req.headers['content-type']).toBe('application/json')
    expect(req.headers['x-boxd-event']).toBe('ssh_key.added')
    const body = JSON.parse(req.body)
    expect(Object.keys(body)).toEqual(['id', 'type', 'created_at', 'data'])
    expect(body).toMatchObject({ type: 'ssh_key.added', created_at: '2026-11-23T12:00:00.000Z', data: { name: 'laptop' } })
    expect(verifySignature(SECRET, req.headers['x-boxd-signature'] as string, req.body, unix(app))).toBe(true)
    // The signature covers the body and the secret: change either and it fails.
    expect(verifySignature('another-secret-entirely', req.headers['x-boxd-signature'] as string, req.body, unix(app))).toBe(false)
    expect(verifySignature(SECRET, req.headers['x-boxd-signature'] as string, req.body.replace('laptop', 'laptoq'), unix(app))).toBe(false)
    const d = (await runJson(app, alice, `webhook deliveries ${id}`)).data.deliveries
    expect(d).toHaveLength(1)
    expect(d[0]).toMatchObject({ id: req.headers['x-boxd-delivery'], status: 'succeeded', attempts: 1, response_status: 200, event_type: 'ssh_key.added' })
  })

  it('a generated secret is shown once, is the whole human stdout, and is sealed at rest', async () => {
    const o = await run(app, alice, `webhook add ${rx.url}`)
    const secret = o.stdout.trim()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/)
    const ls = await runJson(app, alice, 'webhook ls')
    expect(JSON.stringify(ls.data)).not.toContain(secret)
    expect(Object.keys(ls.data.webhooks[0]).sort()).toEqual(['all_users', 'created_at', 'events', 'id', 'url'])
    app.services.store.db.pragma('wal_checkpoint(TRUNCATE)')
    expect(readFileSync(join(app.dir, 'boxd.db')).includes(secret)).toBe(false)
    // …and it is the secret the deliveries are signed with.
    const t = await runJson(app, alice, `webhook test ${ls.data.webhooks[0].id}`)
    expect(t.data).toMatchObject({ status: 'succeeded', response_status: 200 })
    expect(verifySignature(secret, rx.received[0].headers['x-boxd-signature'] as string, rx.received[0].body, unix(app))).toBe(true)
  })

  it('only events matching the webhook\'s filters are queued', async () => {
    await addHook(app, `--secret ${SECRET} --events machine.*,user.*`)
    await run(app, alice, `ssh-key add ${newPublicKey('k')}`)
    expect(await worker(app).runOnce()).toBe(0)
    app.services.events.emit('machine.stopped', { machine: 'web' }, { userId: alice.id, machine: 'web' })
    expect(await worker(app).runOnce()).toBe(1)
    expect(rx.received.map((r) => r.headers['x-boxd-event'])).toEqual(['machine.stopped'])
  })

  it('another user\'s events never reach your webhook', async () => {
    await addHook()
    const bob = addUser(app, 'bob@example.com').user
    await run(app, bob, `ssh-key add ${newPublicKey('k')}`)
    expect(await worker(app).runOnce()).toBe(0)
    expect(rx.received).toHaveLength(0)
  })

  it('an admin --all-users webhook hears every user, and stops when its owner is demoted', async () => {
    await addHook(app, `--secret ${SECRET} --all-users`)
    const bob = addUser(app, 'bob@example.com').user
    await run(app, bob, `ssh-key add ${newPublicKey('k')}`)
    expect(await worker(app).runOnce()).toBe(1)
    addUser(app, 'carol@example.com', 'admin')
    expect((await run(app, alice, 'user set-role alice@example.com user')).exit).toBe(0)
    expect(await worker(app).runOnce()).toBe(1) // her own user.role_changed
    await run(app, bob, `ssh-key add ${newPublicKey('k2')}`)
    expect(await worker(app).runOnce()).toBe(0)
  })

  it('a started server delivers on its own within seconds', async () => {
    await addHook()
    app.services.background.start()
    try {
      await run(app, alice, `ssh-key add ${newPublicKey('k')}`)
      await until(() => rx.received.length === 1, 'the delivery', 5000)
    } finally {
      await app.services.background.stop()
    }
  })
})

describe('durability and retries', () => {
  it('the outbox survives the receiver being down and a boxd restart', async () => {
    const port = rx.port
    const hookId = await addHook()
    await rx.close() // receiver down
    await run(app, alice, `ssh-key add ${newPublicKey('during-outage')}`)
    expect(await worker(app).runOnce()).toBe(1)
    const [first] = (await runJson(app, alice, `webhook deliveries ${hookId}`)).data.deliveries
    expect(first).toMatchObject({ status: 'pending', attempts: 1, response_status: null })
    expect(first.error).toMatch(/ECONNREFUSED/)

    app.close() // boxd stops…
    const again = openApp(app.dir, app.clock) // …and starts again on the same data dir
    extra.push(again)
    rx = await startReceiver(port) // receiver back
    expect(await worker(again).runOnce()).toBe(0) // not before its backoff
    app.clock.advance(6000)
    expect(await worker(again).runOnce()).toBe(1)
    expect(rx.received).toHaveLength(1)
    const req = rx.received[0]
    expect(req.headers['x-boxd-delivery']).toBe(first.id) // same delivery id: receivers dedupe on it
    expect(JSON.parse(req.body).data.name).toBe('during-outage')
    expect(verifySignature(SECRET, req.headers['x-boxd-signature'] as string, req.body, unix(again))).toBe(true)
    expect(again.services.store.deliveries.get(first.id)).toMatchObject({ status: 'succeeded', attempts: 2 })
  })

  it('backoff: 5 s, 10 s, 20 s … capped at an hour; marked failed after about a day', async () => {
    expect([1, 2, 3, 4, 5, 10, 11, 30].map(backoffSeconds)).toEqual([5, 10, 20, 40, 80, 2560, 3600, 3600])
    rx.status = 500
    await addHook()
    const w = new WebhookWorker(app.services.store, app.clock, new Sealer(app.dir), new DestinationPolicy(), pino({ level: 'silent' }), () => {}, { jitter: () => 0 })
    const e = app.services.events.emit('machine.failed', {}, { userId: alice.id, machine: 'web' })
    const id = e.deliveries[0]
    const delays: number[] = []
    const start = app.clock.now().getTime()
    for (let i = 0; i < 100; i++) {
      expect(await w.runOnce()).toBe(1)
      const d = app.services.store.deliveries.get(id)!
      if (d.status !== 'pending') break
      const wait = Date.parse(d.next_attempt_at!) - app.clock.now().getTime()
      delays.push(wait / 1000)
      app.clock.advance(wait)
    }
    const d = app.services.store.deliveries.get(id)!
    expect(d).toMatchObject({ status: 'failed', response_status: 500, last_error: 'HTTP 500' })
    expect(delays.slice(0, 6)).toEqual([5, 10, 20, 40, 80, 160])
    expect(Math.max(...delays)).toBe(3600)
    expect(rx.received).toHaveLength(d.attempts)
    const elapsed = app.clock.now().getTime() - start
    expect(elapsed).toBeGreaterThan(GIVE_UP_AFTER_MS - 3600_000)
    expect(elapsed).toBeLessThanOrEqual(GIVE_UP_AFTER_MS)
  })

  it('a receiver that never answers times out, and the delivery is retried', async () => {
    const http = await import('node:http')
    const hang = http.createServer(() => {}) // accepts, never answers
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()))
    try {
      const port = (hang.address() as { port: number }).port
      const r = await runJson(app, alice, `webhook add http://127.0.0.1:${port}/slow --secret ${SECRET}`)
      const w = new WebhookWorker(app.services.store, app.clock, new Sealer(app.dir), new DestinationPolicy(), pino({ level: 'silent' }), () => {}, { timeoutMs: 300 })
      app.services.events.emit('machine.failed', {}, { userId: alice.id })
      const t0 = Date.now()
      await w.runOnce()
      expect(Date.now() - t0).toBeLessThan(3000)
      const [d] = app.services.store.deliveries.listForWebhook(r.data.id, 1)
      expect(d).toMatchObject({ status: 'pending', attempts: 1 })
      expect(d.last_error).toMatch(/timed out/)
    } finally {
      hang.closeAllConnections()
      hang.close()
    }
  })

  it('a redirect is not followed (it counts as a failure)', async () => {
    rx.status = 302
    const id = await addHook()
    const t = await runJson(app, alice, `webhook test ${id}`)
    expect(t.data).toMatchObject({ status: 'pending', response_status: 302, error: 'HTTP 302' })
  })
})

describe('webhook verbs', () => {
  it('test, deliveries, redeliver and rm', async () => {
    const id = await addHook()
    const t = await runJson(app, alice, `webhook test ${id}`)
    expect(t.data).toMatchObject({ status: 'succeeded', attempts: 1, webhook_id: id })
    expect(JSON.parse(rx.received[0].body).type).toBe('webhook.test')
    const again = await runJson(app, alice, `webhook redeliver ${t.data.id}`)
    expect(again.data.id).not.toBe(t.data.id)
    expect(again.data).toMatchObject({ status: 'succeeded', event_id: t.data.event_id })
    expect(rx.received.map((r) => JSON.parse(r.body).id)).toEqual([t.data.event_id, t.data.event_id])
    expect((await runJson(app, alice, `webhook deliveries ${id}`)).data.deliveries).toHaveLength(2)
    expect((await runJson(app, alice, `webhook rm ${id}`)).data).toMatchObject({ removed: id })
    expect((await runJson(app, alice, 'webhook ls')).data.webhooks).toEqual([])
    expect(app.services.store.deliveries.get(t.data.id)).toBeUndefined()
  })

  it('attack: another user\'s webhook and deliveries are not_found, for every verb', async () => {
    const id = await addHook()
    const t = await runJson(app, alice, `webhook test ${id}`)
    const bob = addUser(app, 'bob@example.com').user
    for (const line of [`webhook test ${id}`, `webhook deliveries ${id}`, `webhook rm ${id}`, `webhook redeliver ${t.data.id}`]) {
      expect((await run(app, bob, line)).error?.code, line).toBe('not_found')
    }
    expect((await runJson(app, bob, 'webhook ls')).data.webhooks).toEqual([])
    expect(app.services.store.webhooks.get(id)).toBeDefined()
  })

  it('--all-users is refused to non-admins', async () => {
    const bob = addUser(app, 'bob@example.com').user
    expect((await run(app, bob, `webhook add ${rx.url} --all-users`)).error?.code).toBe('forbidden')
  })

  it.each([
    ['ftp://127.0.0.1/x', /http or https/],
    ['file:///etc/passwd', /http or https/],
    ['http://user:pw@127.0.0.1/x', /user:password/],
    ['not a url', /not a URL/],
    ['javascript:alert(1)', /http or https/],
  ])('rejects %j', async (url, re) => {
    const o = await run(app, alice, `webhook add '${url}'`)
    expect(o.error?.code).toBe('usage')
    expect(o.error?.message).toMatch(re)
  })

  it('rejects a bad --events filter and a short --secret', async () => {
    expect((await run(app, alice, `webhook add ${rx.url} --events 'machine.*;rm'`)).error?.code).toBe('usage')
    expect((await run(app, alice, `webhook add ${rx.url} --secret short`)).error?.code).toBe('usage')
  })
})

describe('--webhook-allow', () => {
  it('refuses destinations outside the allowed CIDRs at add time', async () => {
    const restricted = openApp(app.dir, app.clock, { webhookAllow: ['10.0.0.0/8'] })
    extra.push(restricted)
    const o = await run(restricted, alice, `webhook add ${rx.url}`)
    expect(o.error?.code).toBe('usage')
    expect(o.error?.message).toMatch(/outside the destinations/)
    const ok = openApp(app.dir, app.clock, { webhookAllow: ['127.0.0.0/8'] })
    extra.push(ok)
    expect((await run(ok, alice, `webhook add ${rx.url} --secret ${SECRET}`)).exit).toBe(0)
  })

  it('checks again at delivery time (the allowlist may have changed since)', async () => {
    await addHook()
    app.close()
    const restricted = openApp(app.dir, app.clock, { webhookAllow: ['10.0.0.0/8'] })
    extra.push(restricted)
    restricted.services.events.emit('machine.running', {}, { userId: alice.id })
    expect(await worker(restricted).runOnce()).toBe(1)
    expect(rx.received).toHaveLength(0)
    const [d] = restricted.services.store.deliveries.due('9999', 10)
    expect(d.last_error).toMatch(/not allowed/)
  })

  it('a hostname is checked by every address it resolves to', async () => {
    const p = new DestinationPolicy(['127.0.0.0/8'])
    await expect(p.checkUrl(new URL('http://127.0.0.1/'))).resolves.toBeUndefined()
    await expect(p.checkUrl(new URL('http://[::1]/'))).rejects.toThrow(/outside/)
    expect(p.allowed('::ffff:127.0.0.1')).toBe(true)
    expect(p.allowed('::ffff:10.0.0.1')).toBe(false)
    expect(() => new DestinationPolicy(['10.0.0.0/33'])).toThrow(/not a CIDR/)
    expect(() => new DestinationPolicy(['example.com/8'])).toThrow(/not a CIDR/)
  })
})
