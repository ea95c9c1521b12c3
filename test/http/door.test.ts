// The door's adapter logic in-process (hono's app.request): the deadline, bugs in the door, the
// principal it builds, and the limiter shared with SSH exec. Real-curl coverage is in test/e2e.
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import { createUser } from '../../src/auth/accounts.js'
import type { Principal } from '../../src/auth/principal.js'
import { mintToken } from '../../src/auth/token.js'
import { publicKeyBlob, publicKeyText, fingerprint } from '../../src/auth/sshsig.js'
import { createHttpApp } from '../../src/http/app.js'
import { bodyJson, Dispatcher } from '../../src/registry/dispatch.js'
import { Registry } from '../../src/registry/registry.js'
import { defineCommand } from '../../src/registry/types.js'
import type { User } from '../../src/store/index.js'
import { MovableClock } from '../helpers/http.js'

const NS = 'v0@boxd.localhost'

let dir: string
let app: App
let clock: MovableClock
let user: User
let key: KeyObject
let fp: string

let seenSignal: AbortSignal | undefined
const slow = defineCommand({
  name: 'slow', summary: 'waits', usage: 'slow', examples: ['slow'], mutates: false,
  run: (_i, ctx) => new Promise((resolve) => {
    seenSignal = ctx.signal
    const t = setTimeout(() => resolve({ done: true }), 5_000)
    ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve({ aborted: true }) })
  }),
})
// Reads ctx.signal only after the deadline passed (the door makes the signal lazily).
let lateSignal: Promise<AbortSignal> | undefined
const late = defineCommand({
  name: 'late-signal', summary: 'reads its signal late', usage: 'late-signal', examples: ['late-signal'], mutates: false,
  run: (_i, ctx) => {
    lateSignal = new Promise((resolve) => setTimeout(() => resolve(ctx.signal), 400))
    return lateSignal.then(() => ({ done: true }))
  },
})
const echo = defineCommand({
  name: 'echo-principal', summary: 'returns the principal', usage: 'echo-principal', examples: ['echo-principal'], mutates: false,
  run: (_i, ctx) => ctx.principal,
})
const boom = defineCommand({
  name: 'boom', summary: 'throws a plain error', usage: 'boom', examples: ['boom'], mutates: false,
  run: () => { throw new Error('secret detail: /etc/shadow at line 3') },
})
const write = defineCommand({
  name: 'write', summary: 'a mutating verb', usage: 'write', examples: ['write'], mutates: true,
  run: () => ({ ok: true }),
})

function door(o: { deadlineMs?: number } = {}) {
  const registry = new Registry([...commands, slow, late, echo, boom, write])
  return createHttpApp({ dispatcher: new Dispatcher(registry, app.services), services: app.services }, o)
}

function token(claims: object = {}): string {
  return mintToken(JSON.stringify(claims), key, NS)
}

function post(h: ReturnType<typeof door>, line: string, bearer = token({ cmds: ['slow', 'late-signal', 'echo-principal', 'boom', 'write', 'whoami'] }), init: RequestInit = {}) {
  return h.request('/exec', { method: 'POST', body: line, headers: { Authorization: `Bearer ${bearer}` }, ...init })
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'boxd-door-'))
  clock = new MovableClock()
  app = createApp(resolveConfig({ dataDir: dir, rateLimits: { perMinute: 5, mutatingPerMinute: 2, perHour: 100 } }), { clock, log: pino({ level: 'silent' }) })
  key = generateKeyPairSync('ed25519').privateKey
  const blob = publicKeyBlob(key)
  fp = fingerprint(blob)
  user = createUser(app.services.store, clock, { email: 'ann@example.com', role: 'user', keyText: `${publicKeyText(blob)} ann` })
})
afterEach(() => {
  app.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('deadline', () => {
  it('a verb still running at the deadline → 504 timeout, and its ctx.signal is aborted', async () => {
    const t0 = Date.now()
    const res = await post(door({ deadlineMs: 150 }), 'slow')
    expect(res.status).toBe(504)
    expect(await res.json()).toMatchObject({ code: 'timeout' })
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(seenSignal?.aborted).toBe(true)
  })

  it('a verb that first looks at ctx.signal after the deadline finds it aborted, with the timeout as reason', async () => {
    const res = await post(door({ deadlineMs: 100 }), 'late-signal')
    expect(res.status).toBe(504)
    const signal = await lateSignal!
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toMatchObject({ code: 'timeout' })
  })

  it('a verb that finishes in time is not affected by the deadline', async () => {
    const res = await post(door({ deadlineMs: 5_000 }), 'whoami')
    expect(res.status).toBe(200)
  })
})

describe('the reply body', () => {
  it('is the JSON of the outcome body for every kind of outcome (served from stdout, not serialised twice)', async () => {
    const registry = new Registry([...commands, slow, late, echo, boom, write])
    const d = new Dispatcher(registry, app.services)
    const principal: Principal = { user: { id: user.id, email: 'ann@example.com', role: 'user' }, via: 'token', keyFingerprint: fp, token: { id: 'sig_x', claims: { cmds: ['whoami', 'echo-principal', 'boom'] } } }
    for (const line of ['whoami', 'whoami --help', 'echo-principal', 'boom', 'nosuch verb', 'whoami extra', 'ssh-key list', '']) {
      const o = await d.dispatch({ line, principal, door: 'http', forceJson: true })
      expect(bodyJson(o), line).toBe(JSON.stringify(o.body))
    }
  })
})

describe('internal errors leak nothing', () => {
  it('a verb that throws a plain Error → 500 with only the code and a request id', async () => {
    const res = await post(door(), 'boom')
    expect(res.status).toBe(500)
    const body = await res.json() as Record<string, unknown>
    expect(body.code).toBe('internal')
    expect(JSON.stringify(body)).not.toMatch(/shadow|secret|Error|at /)
    expect(body.error).toMatch(/request id [0-9a-f-]{36}/)
  })

  it('a bug in the door itself → bare 500 JSON, no stack', async () => {
    const services = { ...app.services, tokens: { authenticate: () => { throw new TypeError('door bug: x is undefined') } } as unknown as App['services']['tokens'] }
    const h = createHttpApp({ dispatcher: app.dispatcher, services })
    const res = await h.request('/exec', { method: 'POST', body: 'whoami', headers: { Authorization: 'Bearer boxd0.x.y' } })
    expect(res.status).toBe(500)
    const text = await res.text()
    expect(JSON.parse(text)).toMatchObject({ code: 'internal' })
    expect(text).not.toMatch(/door bug|TypeError/)
  })
})

describe('the principal', () => {
  it('is {user, via: token, keyFingerprint, token: {id, claims}} with the claims as signed', async () => {
    const claims = { cmds: ['echo-principal'], ctx: { job: 42, tags: ['a'] }, machines: ['web-*'] }
    const res = await post(door(), 'echo-principal', token(claims))
    expect(res.status).toBe(200)
    const p = await res.json() as Principal
    expect(p.user).toEqual({ id: user.id, email: 'ann@example.com', role: 'user' })
    expect(p.via).toBe('token')
    expect(p.keyFingerprint).toBe(fp)
    expect(p.token?.claims).toEqual(claims)
    expect(p.token?.id).toMatch(/^sig_[0-9a-f]{20}$/)
  })

  it('never contains the token itself', async () => {
    const t = token({ cmds: ['echo-principal'] })
    const text = await (await post(door(), 'echo-principal', t)).text()
    expect(text).not.toContain(t.split('.')[2].slice(0, 40))
  })
})

describe('rate limits are shared with SSH exec', () => {
  const principal = (): Principal => ({ user: { id: user.id, email: user.email, role: user.role }, via: 'ssh-key', keyFingerprint: fp })

  it('SSH exec and /exec with the same key spend one quota', async () => {
    const h = door()
    for (let i = 0; i < 3; i++) expect((await post(h, 'whoami')).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await app.dispatcher.dispatch({ line: 'whoami', principal: principal(), door: 'ssh' })).exit).toBe(0)
    const ssh = await app.dispatcher.dispatch({ line: 'whoami', principal: principal(), door: 'ssh' })
    expect(ssh.error?.code).toBe('rate_limited')
    expect(ssh.exit).toBe(8)
    expect((await post(h, 'whoami')).status).toBe(429)
  })

  it('the local door (operator on the server) is not limited', async () => {
    const local: Principal = { ...principal(), via: 'local', keyFingerprint: null }
    for (let i = 0; i < 20; i++) expect((await app.dispatcher.dispatch({ line: 'whoami', principal: local, door: 'local' })).exit).toBe(0)
  })

  it('mutating verbs over HTTP pay the mutating quota once the verb is known (429 with headers)', async () => {
    const h = door()
    expect((await post(h, 'write')).status).toBe(200)
    expect((await post(h, 'write')).status).toBe(200)
    const third = await post(h, 'write')
    expect(third.status).toBe(429)
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(third.headers.get('ratelimit')).toMatch(/^"mutating";r=0;t=\d+$/)
    expect((await post(h, 'whoami')).status).toBe(200)
  })
})

describe('headers', () => {
  it('every /exec reply is JSON, no-store, with a request id', async () => {
    for (const res of [await post(door(), 'whoami'), await post(door(), 'nope'), await door().request('/exec')]) {
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    }
  })
})
