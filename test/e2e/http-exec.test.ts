// POST /exec end to end: tokens made by the README's shell recipe (scripts/boxd-token.sh, i.e. the
// real `ssh-keygen -Y sign`), requests made by the real curl, against the door on 127.0.0.1.
// Security tests are named after the attack they block.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha1RsaKey, skKey } from '../auth/helpers.js'
import { addKey, createUser } from '../../src/auth/accounts.js'
import type { User } from '../../src/store/index.js'
import {
  addUserWithKey, boxdtoken, curl, DOMAIN, NAMESPACE, publicKeyOf, sshKeygen, sshsigBlob, startTestServer, type CurlResult, type HttpTestServer,
} from '../helpers/http.js'

let s: HttpTestServer
const keys: Record<'ed25519' | 'rsa' | 'ecdsa', string> = { ed25519: '', rsa: '', ecdsa: '' }
let alice: User
let exec: (token: string | undefined, line: string | undefined, extra?: Parameters<typeof curl>[1]) => Promise<CurlResult>

const b64u = (s: string | Buffer) => Buffer.from(s).toString('base64url')
const nowS = () => Math.floor(Date.now() / 1000)

beforeAll(async () => {
  // Limits high enough not to interfere; the rate-limit suite below has its own server.
  s = await startTestServer({ https: true, rateLimits: { perMinute: 100_000, mutatingPerMinute: 100_000, perHour: 1_000_000 } })
  for (const t of ['ed25519', 'rsa', 'ecdsa'] as const) keys[t] = sshKeygen(s.dir, t)
  alice = addUserWithKey(s.app, 'alice@example.com', keys.ed25519)
  // One account may hold several keys; bob and carol sign with RSA and ECDSA.
  addUserWithKey(s.app, 'bob@example.com', keys.rsa)
  addUserWithKey(s.app, 'carol@example.com', keys.ecdsa)
  exec = (token, line, extra = {}) => curl(`${s.https}/exec`, { token, data: line, ...extra })
})
afterAll(() => s.close())

function expectError(r: CurlResult, status: number, code: string, message?: RegExp) {
  expect(r.status, r.body).toBe(status)
  expect(r.headers['content-type']).toMatch(/^application\/json/)
  expect(r.json).toMatchObject({ code })
  expect(typeof r.json.error).toBe('string')
  if (message) expect(r.json.error).toMatch(message)
  expect(Object.keys(r.json).every((k) => ['error', 'code', 'hint'].includes(k))).toBe(true)
}

describe('tokens from the shell recipe work with curl', () => {
  it.each([['ed25519', 'alice'], ['rsa', 'bob'], ['ecdsa', 'carol']] as const)('%s key → 200 over HTTPS', async (type, who) => {
    const r = await exec(boxdtoken('{}', keys[type]), 'whoami')
    expect(r.status, r.body).toBe(200)
    expect(r.json.email).toBe(`${who}@example.com`)
    expect(r.json.ssh_keys[0].current).toBe(true)
    expect(r.headers['cache-control']).toBe('no-store')
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('works over plain HTTP too, with exp and cmds', async () => {
    const t = boxdtoken(JSON.stringify({ exp: nowS() + 600, cmds: ['ssh-key list'] }), keys.ed25519)
    const r = await curl(`${s.http}/exec`, { token: t, data: 'ssh-key list' })
    expect(r.status).toBe(200)
    expect(r.json.ssh_keys).toHaveLength(1)
  })

  it('the response is JSON even without --json (forced on HTTP)', async () => {
    const r = await exec(boxdtoken('{}', keys.ed25519), 'help whoami')
    expect(r.status).toBe(200)
    expect(r.json.name).toBe('whoami')
  })

  it('GET /healthz answers JSON without a token (ok → 200; the ops checks may say degraded → 503)', async () => {
    const r = await curl(`${s.https}/healthz`)
    expect(typeof r.json.status).toBe('string')
    expect(r.status).toBe(r.json.status === 'ok' ? 200 : 503)
  })
})

describe('the door refuses in its documented order', () => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('non-POST %s → 405 with Allow: POST (even without a token)', async (method) => {
    const r = await curl(`${s.https}/exec`, { args: ['-X', method] })
    expectError(r, 405, 'usage')
    expect(r.headers.allow).toBe('POST')
  })

  it('missing token → 401 with WWW-Authenticate: Bearer', async () => {
    const r = await exec(undefined, 'whoami')
    expectError(r, 401, 'unauthenticated', /missing bearer token/)
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="boxd"/)
  })

  it('a non-Bearer Authorization header → 401', async () => {
    const r = await exec(undefined, 'whoami', { authorization: 'Basic YWxpY2U6c2VjcmV0' })
    expectError(r, 401, 'unauthenticated')
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/)
  })

  it('a bad token → 401 with error="invalid_token"', async () => {
    const r = await exec('boxd0.e30.AAAA', 'whoami')
    expectError(r, 401, 'unauthenticated')
    expect(r.headers['www-authenticate']).toBe('Bearer realm="boxd", error="invalid_token"')
  })

  it('a 65 KiB body without a token is 401, not 413 (nothing is read before the caller is known)', async () => {
    const file = join(s.dir, 'big-unauth')
    writeFileSync(file, 'x'.repeat(65 * 1024))
    const r = await exec(undefined, undefined, { args: ['--data-binary', `@${file}`] })
    expectError(r, 401, 'unauthenticated')
  })

  it('rejects a 65 KiB chunked body with 413 (the limit holds without Content-Length)', async () => {
    const file = join(s.dir, 'big')
    writeFileSync(file, `whoami ${'x'.repeat(65 * 1024)}`)
    const r = await curl(`${s.https}/exec`, { token: boxdtoken('{}', keys.ed25519), args: ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`] })
    expectError(r, 413, 'payload_too_large')
    expect(r.headers.connection).toBe('close')
  })

  it('rejects a 65 KiB body with Content-Length with 413 before reading it', async () => {
    const file = join(s.dir, 'big2')
    writeFileSync(file, 'x'.repeat(65 * 1024))
    const r = await exec(boxdtoken('{}', keys.ed25519), undefined, { args: ['--data-binary', `@${file}`] })
    expectError(r, 413, 'payload_too_large')
  })

  it('a body of exactly 64 KiB is read (and then judged by the parser)', async () => {
    const file = join(s.dir, 'edge')
    writeFileSync(file, `help ${'x'.repeat(64 * 1024 - 5)}`)
    const r = await exec(boxdtoken('{}', keys.ed25519), undefined, { args: ['--data-binary', `@${file}`] })
    expectError(r, 404, 'not_found')
  })

  it.each([
    ['empty body', 400, 'usage', ''],
    ['NUL byte', 400, 'usage', 'whoami\u0000'],
    ['unbalanced quote', 400, 'usage', "whoami 'x"],
    ['unknown flag', 400, 'usage', 'whoami --bogus'],
    ['unknown verb', 404, 'unknown_command', 'frobnicate'],
    ['verb outside the token (403 comes before flag parsing)', 403, 'forbidden', 'ssh-key add --bogus'],
  ])('%s → %i %s', async (_name, status, code, line) => {
    // Sent on stdin: argv cannot carry a NUL byte.
    const r = await exec(boxdtoken('{}', keys.ed25519), undefined, { args: ['--data-binary', '@-'], stdin: line })
    expectError(r, status, code)
  })

  it('invalid UTF-8 in the body → 400', async () => {
    const file = join(s.dir, 'latin1')
    writeFileSync(file, Buffer.from([0x77, 0x68, 0x6f, 0xff, 0x61, 0x6d, 0x69]))
    const r = await exec(boxdtoken('{}', keys.ed25519), undefined, { args: ['--data-binary', `@${file}`] })
    expectError(r, 400, 'usage', /UTF-8/)
  })

  it('unknown paths are JSON 404s', async () => {
    const r = await curl(`${s.https}/nope`)
    expectError(r, 404, 'not_found')
  })
})

describe('namespace confusion', () => {
  const sign = (ns: string) => `boxd0.${b64u('{}')}.${b64u(sshsigBlob('{}', keys.ed25519, ns))}`
  it.each([
    ['git', 'git'],
    ['file', 'file'],
    ['a machine namespace', `v0@web.${DOMAIN}`],
    ['another boxd host', 'v0@boxd.example.com'],
  ])('rejects a token signed for the %s namespace at /exec', async (_name, ns) => {
    const r = await exec(sign(ns), 'whoami')
    expectError(r, 401, 'unauthenticated', /namespace/)
  })

  it('the same key and payload under our namespace is accepted (the test can fail)', async () => {
    expect((await exec(sign(NAMESPACE), 'whoami')).status).toBe(200)
  })
})

describe('payload and encoding attacks', () => {
  it('rejects a payload swapped under a valid signature', async () => {
    const narrow = boxdtoken('{"cmds":["whoami"]}', keys.ed25519)
    const [, , sig] = narrow.split('.')
    const r = await exec(`boxd0.${b64u('{"cmds":["ssh-key add"]}')}.${sig}`, 'whoami')
    expectError(r, 401, 'unauthenticated', /does not verify/)
  })

  it('rejects duplicate keys even when properly signed', async () => {
    const r = await exec(boxdtoken('{"cmds":["whoami"],"cmds":["ssh-key remove"]}', keys.ed25519), 'whoami')
    expectError(r, 401, 'unauthenticated', /duplicate/)
  })

  it('rejects duplicate keys nested in ctx', async () => {
    const r = await exec(boxdtoken('{"ctx":{"a":1,"a":2}}', keys.ed25519), 'whoami')
    expectError(r, 401, 'unauthenticated', /duplicate/)
  })

  it('rejects unknown members (a caveat we do not understand must not widen the token)', async () => {
    const r = await exec(boxdtoken('{"admin":true}', keys.ed25519), 'whoami')
    expectError(r, 401, 'unauthenticated', /unknown member/)
  })

  it.each([
    ['fractional exp', '{"exp":4000000000.5}'],
    ['exponent exp', '{"exp":4e9}'],
    ['exp out of range (milliseconds)', '{"exp":4000000000000}'],
    ['nbf before 2000', '{"nbf":1}'],
    ['string exp', '{"exp":"4000000000"}'],
  ])('rejects %s', async (_name, payload) => {
    expectError(await exec(boxdtoken(payload, keys.ed25519), 'whoami'), 401, 'unauthenticated', /exp|nbf/)
  })

  it('rejects an expired token', async () => {
    expectError(await exec(boxdtoken(`{"exp":${nowS() - 5}}`, keys.ed25519), 'whoami'), 401, 'unauthenticated', /expired/)
  })

  it('rejects a token that is not valid yet', async () => {
    expectError(await exec(boxdtoken(`{"nbf":${nowS() + 3600}}`, keys.ed25519), 'whoami'), 401, 'unauthenticated', /not valid yet/)
  })

  it('rejects surrounding whitespace in the payload', async () => {
    expectError(await exec(boxdtoken(' {}', keys.ed25519), 'whoami'), 401, 'unauthenticated')
  })

  describe('non-canonical base64', () => {
    let good: string
    beforeAll(() => {
      // The "standard alphabet" variant needs a '-' or '_' to change: re-sign until the random
      // signature has one (each try has ~94 % odds), else that test could not fail.
      for (let i = 0; i < 20 && !/[-_]/.test(good ?? ''); i++) good = boxdtoken('{"cmds":["whoami"]}', keys.ed25519)
      expect(good).toMatch(/[-_]/)
    })
    const variants: Array<[string, (t: string) => string]> = [
      ['padding', (t) => { const [a, p, sg] = t.split('.'); return `${a}.${p}==.${sg}` }],
      ['standard alphabet', (t) => t.replace(/-/g, '+').replace(/_/g, '/')],
      ['stray trailing bits', (t) => {
        const [a, p, sg] = t.split('.')
        // '{"cmds":["whoami"]}' is 19 bytes: the last char carries 2 unused bits; set one.
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
        const last = alphabet.indexOf(p[p.length - 1])
        return `${a}.${p.slice(0, -1)}${alphabet[last | 1]}.${sg}`
      }],
      ['whitespace inside', (t) => t.replace('.', '.\t')],
    ]
    it.each(variants)('rejects %s', async (_n, f) => {
      const bad = f(good)
      expect(bad).not.toBe(good)
      expectError(await exec(bad, 'whoami'), 401, 'unauthenticated')
    })
    it('accepts the canonical token (the variants above differ only in spelling)', async () => {
      expect((await exec(good, 'whoami')).status).toBe(200)
    })
  })
})

describe('revocation is immediate', () => {
  it('removed key → its token is 401 on the very next request', async () => {
    const k = sshKeygen(s.dir, 'ed25519', 'dave-laptop')
    const k2 = sshKeygen(s.dir, 'ed25519', 'dave-desktop')
    const dave = addUserWithKey(s.app, 'dave@example.com', k)
    const t = boxdtoken('{}', k)
    expect((await exec(t, 'whoami')).status).toBe(200)
    // Removed over the API itself, with a token signed by the other key.
    const other = boxdtoken('{"cmds":["ssh-key add","ssh-key remove"]}', k2)
    addKey(s.app.services.store, s.app.services.clock, dave, publicKeyOf(k2), 'dave-desktop')
    expect((await exec(other, `ssh-key remove ${publicKeyOf(k).split(' ').slice(0, 2).join(' ')}`)).status).toBe(200)
    expectError(await exec(t, 'whoami'), 401, 'unauthenticated', /not a registered key/)
  })

  it('disabled user → 401', async () => {
    const k = sshKeygen(s.dir, 'ed25519', 'erin')
    const erin = addUserWithKey(s.app, 'erin@example.com', k)
    const t = boxdtoken('{}', k)
    expect((await exec(t, 'whoami')).status).toBe(200)
    s.app.services.store.db.prepare("UPDATE users SET status = 'disabled' WHERE id = ?").run(erin.id)
    expectError(await exec(t, 'whoami'), 401, 'unauthenticated')
  })

  it('expired user → 401', async () => {
    const k = sshKeygen(s.dir, 'ed25519', 'frank')
    const frank = addUserWithKey(s.app, 'frank@example.com', k)
    const t = boxdtoken('{}', k)
    expect((await exec(t, 'whoami')).status).toBe(200)
    s.app.services.store.db.prepare('UPDATE users SET expires_at = ? WHERE id = ?').run(new Date(Date.now() - 1000).toISOString(), frank.id)
    expectError(await exec(t, 'whoami'), 401, 'unauthenticated')
  })

  it('a key never registered → 401', async () => {
    const k = sshKeygen(s.dir, 'ed25519', 'stranger')
    expectError(await exec(boxdtoken('{}', k), 'whoami'), 401, 'unauthenticated', /not a registered key/)
  })
})

describe('weak signatures', () => {
  it('rejects an RSA signature over SHA-1 (ssh-rsa)', async () => {
    const key = sha1RsaKey()
    createUser(s.app.services.store, s.app.services.clock, { email: 'sha1@example.com', role: 'user', keyText: key.text })
    expectError(await exec(key.sign('{}', { ns: NAMESPACE }), 'whoami'), 401, 'unauthenticated', /SHA-1/)
  })

  it('rejects a security-key signature without user presence', async () => {
    const key = skKey('ed25519')
    createUser(s.app.services.store, s.app.services.clock, { email: 'sk@example.com', role: 'user', keyText: key.text })
    expectError(await exec(key.sign('{}', { ns: NAMESPACE, flags: 0 }), 'whoami'), 401, 'unauthenticated', /user presence/)
    // …and accepts it with the user-presence flag (the test can fail).
    expect((await exec(key.sign('{}', { ns: NAMESPACE, flags: 1 }), 'whoami')).status).toBe(200)
  })
})

describe('cmds', () => {
  it('enforces cmds: a verb outside the list is 403', async () => {
    const t = boxdtoken('{"cmds":["whoami"]}', keys.ed25519)
    expect((await exec(t, 'whoami')).status).toBe(200)
    expectError(await exec(t, 'ssh-key list'), 403, 'forbidden', /does not allow `ssh-key list`/)
  })

  it('cmds entries are exact verb paths: "ssh-key" does not grant "ssh-key list"', async () => {
    expectError(await exec(boxdtoken('{"cmds":["ssh-key"]}', keys.ed25519), 'ssh-key list'), 403, 'forbidden')
  })

  it('[] = nothing, not even whoami or help', async () => {
    const t = boxdtoken('{"cmds":[]}', keys.ed25519)
    expectError(await exec(t, 'whoami'), 403, 'forbidden')
    expectError(await exec(t, 'help'), 403, 'forbidden')
  })

  it('absent cmds = the default read-only set', async () => {
    const t = boxdtoken('{}', keys.ed25519)
    for (const line of ['whoami', 'help', 'ssh-key list', 'token ls']) {
      // token ls is not in the default set; the others are.
      const r = await exec(t, line)
      expect(r.status, `${line}: ${r.body}`).toBe(line === 'token ls' ? 403 : 200)
    }
    expectError(await exec(t, `ssh-key add ${publicKeyOf(sshKeygen(s.dir, 'ed25519'))}`), 403, 'forbidden')
    expectError(await exec(t, 'ssh-key remove ed25519'), 403, 'forbidden')
    expectError(await exec(t, 'ssh-key generate-api-key'), 403, 'forbidden')
  })

  it('ctx is passed through untouched (and does not grant anything)', async () => {
    const r = await exec(boxdtoken('{"ctx":{"cmds":["ssh-key add"],"x":[1,2]}}', keys.ed25519), 'ssh-key add x')
    expectError(r, 403, 'forbidden')
  })
})

describe('boxd1 handles', () => {
  it('token shorten → a boxd1 that works as a bearer token, idempotently', async () => {
    const t = boxdtoken('{"cmds":["whoami","token shorten"]}', keys.ed25519)
    const r1 = await exec(t, `token shorten ${t}`)
    expect(r1.status, r1.body).toBe(200)
    expect(r1.json.token).toMatch(/^boxd1\.[a-z2-7]{32}$/)
    const r2 = await exec(t, `token shorten ${t}`)
    expect(r2.json.token).toBe(r1.json.token)
    const w = await exec(r1.json.token, 'whoami')
    expect(w.status).toBe(200)
    expect(w.json.email).toBe('alice@example.com')
    // Same permissions as the boxd0 it stands for.
    expectError(await exec(r1.json.token, 'ssh-key list'), 403, 'forbidden')
  })

  it('a boxd1 dies with its key (fully re-validated on every use)', async () => {
    const k = sshKeygen(s.dir, 'ed25519', 'gina')
    const gina = addUserWithKey(s.app, 'gina@example.com', k)
    const t = boxdtoken('{}', k)
    const h = (await exec(t, `token shorten ${t}`)).json.token as string
    expect((await exec(h, 'whoami')).status).toBe(200)
    const key = s.app.services.store.keys.listForUser(gina.id)[0]
    s.app.services.store.keys.markRemoved(key.id, new Date())
    expectError(await exec(h, 'whoami'), 401, 'unauthenticated', /no longer valid/)
  })

  it('token revoke → the handle is 401 at once; a new shorten gives a different handle', async () => {
    const t = boxdtoken('{"cmds":["whoami","token shorten","token revoke","token ls"]}', keys.ed25519)
    const h = (await exec(t, `token shorten ${t}`)).json.token as string
    const ls = await exec(t, 'token ls')
    expect(ls.status).toBe(200)
    expect(JSON.stringify(ls.json)).not.toContain(h) // the list never shows a handle
    expect((await exec(t, `token revoke ${h}`)).status).toBe(200)
    expectError(await exec(h, 'whoami'), 401, 'unauthenticated', /unknown or revoked/)
    const h2 = (await exec(t, `token shorten ${t}`)).json.token as string
    expect(h2).not.toBe(h)
  })

  it('rejects shortening a token signed by someone else\'s key', async () => {
    const bobs = boxdtoken('{}', keys.rsa)
    expectError(await exec(boxdtoken('{}', keys.ed25519), `token shorten ${bobs}`), 403, 'forbidden')
  })

  it('rejects shortening a token that does not verify (400, not 401: the caller is fine)', async () => {
    expectError(await exec(boxdtoken('{}', keys.ed25519), 'token shorten boxd0.e30.AAAA'), 400, 'usage')
  })

  it('a guessed boxd1 → 401', async () => {
    expectError(await exec(`boxd1.${'a'.repeat(32)}`, 'whoami'), 401, 'unauthenticated')
  })
})

describe('ssh-key generate-api-key over HTTP', () => {
  it('prints only a token, which works and is limited as asked', async () => {
    const t = boxdtoken('{"cmds":["ssh-key generate-api-key","whoami"]}', keys.ecdsa)
    const r = await exec(t, 'ssh-key generate-api-key --label ci-bot --cmds whoami --exp 1h')
    expect(r.status, r.body).toBe(200)
    expect(Object.keys(r.json)).toEqual(['token'])
    const made = r.json.token as string
    const w = await exec(made, 'whoami')
    expect(w.status).toBe(200)
    expect(w.json.email).toBe('carol@example.com')
    expect(w.json.ssh_keys.map((k: { name: string }) => k.name)).toContain('ci-bot')
    expectError(await exec(made, 'ssh-key list'), 403, 'forbidden')
  })

  it('rejects granting more than the calling token holds (privilege escalation through a narrow token)', async () => {
    const t = boxdtoken(`{"exp":${nowS() + 600},"cmds":["ssh-key generate-api-key","whoami"]}`, keys.ecdsa)
    expectError(await exec(t, 'ssh-key generate-api-key --cmds ssh-key remove --exp 5m'), 400, 'usage') // "remove" alone is no verb
    expectError(await exec(t, 'ssh-key generate-api-key --cmds "ssh-key remove" --exp 5m'), 403, 'forbidden')
    expectError(await exec(t, 'ssh-key generate-api-key --cmds whoami --exp never'), 403, 'forbidden', /outlive/)
    expect((await exec(t, 'ssh-key generate-api-key --cmds whoami --exp 5m')).status).toBe(200)
  })
})

describe('rate limits', () => {
  let r: HttpTestServer
  let key: string
  beforeAll(async () => {
    r = await startTestServer({ rateLimits: { perMinute: 3, mutatingPerMinute: 1, perHour: 1000 } })
    key = sshKeygen(r.dir, 'ed25519')
    addUserWithKey(r.app, 'rl@example.com', key)
  })
  afterAll(() => r.close())

  it('the 4th request in a minute → 429 with Retry-After and RateLimit headers, before the body is read', async () => {
    const t = boxdtoken('{}', key)
    for (let i = 0; i < 3; i++) {
      const ok = await curl(`${r.http}/exec`, { token: t, data: 'whoami' })
      expect(ok.status).toBe(200)
      expect(ok.headers['ratelimit-policy']).toBe('"minute";q=3;w=60, "mutating";q=1;w=60, "hour";q=1000;w=3600')
      expect(ok.headers.ratelimit).toMatch(/^"minute";r=\d+;t=\d+$/)
    }
    // 65 KiB: over quota, it is never read, so 429 and not 413.
    const file = join(r.dir, 'big')
    writeFileSync(file, 'x'.repeat(65 * 1024))
    const over = await curl(`${r.http}/exec`, { token: t, args: ['--data-binary', `@${file}`] })
    expectError(over, 429, 'rate_limited', /3 requests per minute/)
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
    expect(Number(over.headers['retry-after'])).toBeLessThanOrEqual(20)
    expect(over.headers['ratelimit-policy']).toContain('"minute";q=3;w=60')
    expect(over.headers.ratelimit).toMatch(/^"minute";r=0;t=\d+$/)
  })

  it('the quota is per signing key: another user\'s key is unaffected', async () => {
    const other = sshKeygen(r.dir, 'ed25519')
    addUserWithKey(r.app, 'rl2@example.com', other)
    expect((await curl(`${r.http}/exec`, { token: boxdtoken('{}', other), data: 'whoami' })).status).toBe(200)
  })

  it('state-changing verbs have their own, smaller quota', async () => {
    const k = sshKeygen(r.dir, 'ed25519')
    addUserWithKey(r.app, 'rl3@example.com', k)
    const t = boxdtoken('{"cmds":["ssh-key rename","whoami"]}', k)
    expect((await curl(`${r.http}/exec`, { token: t, data: 'ssh-key rename ed25519 a' })).status).toBe(200)
    const second = await curl(`${r.http}/exec`, { token: t, data: 'ssh-key rename a b' })
    expectError(second, 429, 'rate_limited', /state-changing/)
    expect(second.headers['retry-after']).toBeDefined()
    expect((await curl(`${r.http}/exec`, { token: t, data: 'whoami' })).status).toBe(200)
  })

  it('quota refills with time', async () => {
    const k = sshKeygen(r.dir, 'ed25519')
    addUserWithKey(r.app, 'rl4@example.com', k)
    const t = boxdtoken('{}', k)
    for (let i = 0; i < 3; i++) await curl(`${r.http}/exec`, { token: t, data: 'whoami' })
    expect((await curl(`${r.http}/exec`, { token: t, data: 'whoami' })).status).toBe(429)
    r.clock.advance(20_000) // 3/min → one request back every 20 s
    expect((await curl(`${r.http}/exec`, { token: t, data: 'whoami' })).status).toBe(200)
  })
})
