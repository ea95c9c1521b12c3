// The boxd0 token verifier, one test per attack it blocks. Payload-level attacks are signed
// validly, so only the gate under test can reject them (remove the gate and the test fails).
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { MAX_TOKEN_LENGTH, TokenVerifier, mintToken, parseToken, tokenNamespace } from '../../src/auth/token.js'
import {
  FIXTURES, FIXTURE_KEYS, NOW, NS, PAYLOAD, Registry, b64u, expectRejected, fixturePublicKey, fixtureToken, makeToken,
  nodeKeyText, sha1RsaKey, skKey, sshKeygenFingerprint, splitBlob, sshsigBlob, tokenParts,
} from './helpers.js'

const EXPECTED = {
  cmds: ['ls', 'port open'],
  machines: ['web-*', 'db'],
  ctx: { ticket: 'T-1', nested: [1, { a: null }] },
  nbf: 946684800,
  exp: 4102444800,
}

function setup(now = NOW) {
  const registry = new Registry()
  for (const k of FIXTURE_KEYS) registry.add(fixturePublicKey(k), `user-${k}`)
  let clock = now
  const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => clock })
  return { registry, verifier, setNow: (t: number) => { clock = t } }
}

// One ed25519 key minted in-process, for payloads ssh-keygen would never be asked to sign.
const ed = generateKeyPairSync('ed25519').privateKey
function signed(payload: string): { token: string; verifier: TokenVerifier } {
  const registry = new Registry()
  registry.add(nodeKeyText(ed))
  return { token: mintToken(payload, ed, NS), verifier: new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW }) }
}

describe('valid tokens verify and return their claims exactly', () => {
  test.each(FIXTURE_KEYS)('ssh-keygen %s token (sha512 and sha256)', (k) => {
    const { verifier } = setup()
    for (const name of [k, `${k}.sha256`]) {
      const v = verifier.verify(fixtureToken(name))
      expect(v.claims).toStrictEqual(EXPECTED)
      expect(v.payload).toBe(PAYLOAD)
      expect(v.userId).toBe(`user-${k}`)
      expect(v.fingerprint).toBe(sshKeygenFingerprint(`${FIXTURES}${k}.pub`))
    }
  })

  test.each(['ed25519', 'ecdsa'] as const)('FIDO sk-%s token with user presence', (kind) => {
    const sk = skKey(kind)
    const registry = new Registry()
    registry.add(sk.text, 'fido-user')
    const v = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW }).verify(sk.sign(PAYLOAD))
    expect(v.claims).toStrictEqual(EXPECTED)
    expect(v.userId).toBe('fido-user')
  })

  test.each([
    ['ed25519', generateKeyPairSync('ed25519').privateKey],
    ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
    ['P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
    ['P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
    ['P-521', generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey],
  ])('mintToken with a node %s key', (_, key) => {
    const registry = new Registry()
    registry.add(nodeKeyText(key))
    const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW })
    expect(verifier.verify(mintToken('{"cmds":[],"ctx":"x"}', key, NS)).claims).toStrictEqual({ cmds: [], ctx: 'x' })
  })

  test('an empty object grants the defaults (no claims)', () => {
    const { token, verifier } = signed('{}')
    expect(verifier.verify(token).claims).toStrictEqual({})
  })
})

describe('namespace confusion', () => {
  test.each(FIXTURE_KEYS)('rejects %s signatures made for git, file and a machine namespace', (k) => {
    const { verifier } = setup()
    for (const ns of ['ns-git', 'ns-file', 'ns-machine']) {
      expectRejected(() => verifier.verify(fixtureToken(`${k}.${ns}`)), /different namespace than "v0@boxd.localhost"/)
    }
  })

  test('rejects an API token at a machine verifier', () => {
    const { registry } = setup()
    const machine = new TokenVerifier({ namespace: tokenNamespace('web.boxd.localhost'), lookup: registry.lookup, now: () => NOW })
    expect(machine.verify(fixtureToken('ed25519.ns-machine')).claims).toStrictEqual(EXPECTED)
    expectRejected(() => machine.verify(fixtureToken('ed25519')), /different namespace/)
  })

  test('rejects a git signature relabelled with our namespace (signed data uses OUR namespace)', () => {
    const { verifier } = setup()
    const { payload, blob } = tokenParts(fixtureToken('ed25519.ns-git'))
    const relabelled = sshsigBlob({ ...splitBlob(blob), ns: NS })
    expectRejected(() => verifier.verify(makeToken(payload, relabelled)), /does not verify/)
  })
})

describe('payload integrity', () => {
  test('rejects a payload swapped under a valid signature', () => {
    const { verifier } = setup()
    const { blob } = tokenParts(fixtureToken('ed25519'))
    const wider = PAYLOAD.replace('"ls"', '"ls","machine rm"')
    expectRejected(() => verifier.verify(makeToken(wider, blob)), /does not verify/)
    const { token: other } = signed('{"cmds":["ls"]}')
    expectRejected(() => verifier.verify(makeToken(tokenParts(other).payload, blob)), /does not verify/)
  })

  test('rejects a signature by one registered key that names another registered key', () => {
    const { registry, verifier } = setup()
    registry.add(nodeKeyText(ed), 'attacker')
    const { payload, blob } = tokenParts(mintToken(PAYLOAD, ed, NS))
    const victim = splitBlob(tokenParts(fixtureToken('ed25519')).blob).pub
    expectRejected(() => verifier.verify(makeToken(payload, sshsigBlob({ ...splitBlob(blob), pub: victim }))), /does not verify/)
  })
})

describe('strict payload JSON', () => {
  test.each([
    ['top level', '{"cmds":["ls"],"cmds":["ls","machine rm"]}'],
    ['nested in ctx', '{"ctx":{"a":1,"a":2}}'],
    ['nested, spelled with an escape', '{"ctx":{"a":1,"\\u0061":2}}'],
    ['in an object inside an array', '{"ctx":[{"x":1},{"y":1,"y":1}]}'],
    ['deep', '{"ctx":{"a":{"b":{"c":{"d":1,"d":1}}}}}'],
  ])('rejects duplicate keys: %s', (_, payload) => {
    const { token, verifier } = signed(payload)
    expectRejected(() => verifier.verify(token), /duplicate key/)
  })

  test('accepts the same key in sibling objects (not a duplicate)', () => {
    const { token, verifier } = signed('{"ctx":[{"a":1},{"a":2}],"cmds":["ls"]}')
    expect(verifier.verify(token).claims).toStrictEqual({ ctx: [{ a: 1 }, { a: 2 }], cmds: ['ls'] })
  })

  test.each(['{"cmd":["ls"]}', '{"admin":true}', '{"__proto__":{"cmds":["rm"]}}', '{"Exp":4102444800}'])(
    'rejects unknown member %s',
    (payload) => {
      const { token, verifier } = signed(payload)
      expectRejected(() => verifier.verify(token), /unknown member/)
    },
  )

  test.each([
    '{"exp":1800000000.5}', '{"exp":1800000000.0}', '{"exp":18e8}', '{"exp":1.8E9}', '{"exp":-0}', '{"exp":-1800000000}',
    '{"exp":"1800000000"}', '{"exp":null}', '{"exp":[1800000000]}', '{"exp":946684799}', '{"exp":4102444801}',
    '{"nbf":1600000000.5}', '{"nbf":99999999999999}', '{"nbf":true}',
  ])('rejects time %s', (payload) => {
    const { token, verifier } = signed(payload)
    expectRejected(() => verifier.verify(token), /integer unix time|unix time in seconds between/)
  })

  test('accepts the time range bounds', () => {
    const { token, verifier } = signed('{"nbf":946684800,"exp":4102444800}')
    expect(verifier.verify(token).claims).toStrictEqual({ nbf: 946684800, exp: 4102444800 })
  })

  test.each([
    '{"cmds":"ls"}', '{"cmds":[""]}', '{"cmds":["ls",1]}', '{"machines":[null]}', '{"machines":{}}', '{"machines":[""]}',
  ])('rejects malformed list claim %s', (payload) => {
    const { token, verifier } = signed(payload)
    expectRejected(() => verifier.verify(token), /array of non-empty strings/)
  })

  test.each([
    ['leading space', ` ${PAYLOAD}`, /surrounding whitespace/],
    ['trailing space', `${PAYLOAD} `, /surrounding whitespace/],
    ['leading tab', `\t${PAYLOAD}`, /surrounding whitespace/],
    ['byte order mark', `\uFEFF${PAYLOAD}`, /surrounding whitespace/],
    ['trailing newline', `${PAYLOAD}\n`, /newline or NUL/],
    ['leading newline', `\n${PAYLOAD}`, /newline or NUL/],
    ['CRLF', `${PAYLOAD}\r\n`, /newline or NUL/],
    ['newline between members', '{"cmds":["ls"],\n"exp":4102444800}', /newline or NUL/],
    ['trailing NUL', `${PAYLOAD}\0`, /newline or NUL/],
    ['NUL inside', '{"cmds":["ls\0rm"]}', /newline or NUL/],
    ['array, not object', '["ls"]', /JSON object/],
    ['two objects', '{}{}', /trailing characters/],
    ['trailing comma', '{"cmds":["ls"],}', /not acceptable JSON/],
    ['single quotes', "{'cmds':['ls']}", /not acceptable JSON/],
    ['leading zero', '{"ctx":01}', /not acceptable JSON/],
    ['raw control char in string', '{"ctx":"a\tb"}', /not acceptable JSON/],
    ['unterminated string', '{"ctx":"a}', /not acceptable JSON/],
  ])('rejects payload with %s', (_, payload, re) => {
    const { token, verifier } = signed(payload)
    expectRejected(() => verifier.verify(token), re)
  })

  test('rejects a payload that is not UTF-8', () => {
    const { token, verifier } = signed('{"ctx":"__"}')
    const bad = Buffer.from('{"ctx":"\xff\xfe"}', 'latin1')
    expectRejected(() => verifier.verify(makeToken(bad, tokenParts(token).blob)), /not valid UTF-8/)
  })

  test('accepts tabs and spaces between tokens, and deep nesting in ctx', () => {
    const deep = '['.repeat(2000) + ']'.repeat(2000)
    const { token, verifier } = signed(`{ "cmds" :\t[ "ls" ] , "ctx": ${deep}}`)
    expect(verifier.verify(token).claims.cmds).toStrictEqual(['ls'])
  })
})

describe('canonical token encoding', () => {
  const { verifier } = setup()
  const token = fixtureToken('ed25519')
  const [prefix, p, s] = token.split('.')

  test('rejects padding', () => {
    const padded = s + '='.repeat((4 - (s.length % 4)) % 4 || 4)
    expectRejected(() => verifier.verify(`${prefix}.${p}.${padded}`), /not base64url/)
  })

  test("rejects the standard alphabet's + and /", () => {
    const { token: t, verifier: v } = signed('{"ctx":"??>>??>>??>>"}') // encodes with both - and _
    const url = t.split('.')[1]
    expect(url).toMatch(/-.*_|_.*-/)
    const std = url.replace(/-/g, '+').replace(/_/g, '/')
    expect(Buffer.from(std, 'base64')).toStrictEqual(Buffer.from(url, 'base64url')) // same bytes: only the gate differs
    expectRejected(() => v.verify(t.replace(url, std)), /not base64url/)
  })

  test('rejects non-zero trailing bits and a dangling character', () => {
    const part = [p, s].find((x) => x.length % 4 !== 0)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(part[part.length - 1])
    const sloppy = part.slice(0, -1) + alphabet[last | 1] // the lowest bit of the last char is unused
    expect(Buffer.from(sloppy, 'base64url')).toStrictEqual(Buffer.from(part, 'base64url'))
    expectRejected(() => verifier.verify(token.replace(part, sloppy)), /not canonical/)
    const k = (((1 - part.length) % 4) + 4) % 4 || 4 // makes the length 1 mod 4: a char that encodes nothing
    expectRejected(() => verifier.verify(token.replace(part, part + 'A'.repeat(k))), /not canonical/)
  })

  test.each([
    ['wrong prefix', token.replace('boxd0.', 'boxd9.')],
    ['boxd1 handle prefix', token.replace('boxd0.', 'boxd1.')],
    ['missing part', `${prefix}.${p}`],
    ['extra part', `${token}.x`],
    ['empty payload', `${prefix}..${s}`],
    ['whitespace around', ` ${token}`],
    ['trailing newline', `${token}\n`],
  ])('rejects %s', (_, bad) => {
    expectRejected(() => verifier.verify(bad), /not a boxd0 token|not base64url/)
  })

  test(`rejects tokens over ${MAX_TOKEN_LENGTH} bytes, accepts up to the limit`, () => {
    const registry = new Registry()
    registry.add(nodeKeyText(ed))
    const v = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW })
    const tokens = Array.from({ length: 12 }, (_, i) => mintToken(`{"ctx":"${'x'.repeat(5940 + i)}"}`, ed, NS))
    const fits = tokens.filter((t) => t.length <= MAX_TOKEN_LENGTH)
    const over = tokens.filter((t) => t.length > MAX_TOKEN_LENGTH)
    expect(Math.max(...fits.map((t) => t.length))).toBeGreaterThanOrEqual(MAX_TOKEN_LENGTH - 1)
    expect(over.length).toBeGreaterThan(0)
    for (const t of fits) expect(v.verify(t).claims.ctx).toMatch(/^x+$/)
    for (const t of over) expectRejected(() => v.verify(t), /longer than 8192 bytes/)
  })
})

describe('SSHSIG defects inside a token', () => {
  test('rejects trailing bytes after the SSHSIG blob', () => {
    const { verifier } = setup()
    const { payload, blob } = tokenParts(fixtureToken('ed25519'))
    expectRejected(() => verifier.verify(makeToken(payload, Buffer.concat([blob, Buffer.of(0)]))), /trailing bytes after the SSHSIG blob/)
  })

  test('rejects trailing bytes inside the inner signature', () => {
    const { verifier } = setup()
    const { payload, blob } = tokenParts(fixtureToken('ed25519'))
    const f = splitBlob(blob)
    const padded = sshsigBlob({ ...f, inner: Buffer.concat([f.inner, Buffer.of(0)]) })
    expectRejected(() => verifier.verify(makeToken(payload, padded)), /trailing bytes after the signature/)
  })

  test('rejects an RSA SHA-1 ("ssh-rsa") signature even though it is mathematically valid', () => {
    const key = sha1RsaKey()
    const registry = new Registry()
    registry.add(key.text)
    const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW })
    expectRejected(() => verifier.verify(key.sign(PAYLOAD)), /SHA-1/)
  })

  test.each(['ed25519', 'ecdsa'] as const)('rejects a FIDO sk-%s signature without user presence', (kind) => {
    const sk = skKey(kind)
    const registry = new Registry()
    registry.add(sk.text)
    const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW })
    expect(verifier.verify(sk.sign(PAYLOAD, { flags: 0x01 })).claims).toStrictEqual(EXPECTED) // same key, touched: fine
    expectRejected(() => verifier.verify(sk.sign(PAYLOAD, { flags: 0x00 })), /lacks user presence/)
    expectRejected(() => verifier.verify(sk.sign(PAYLOAD, { flags: 0x04 })), /lacks user presence/) // UV alone is not UP
  })

  test('rejects an sk signature whose flags were flipped to claim presence', () => {
    const sk = skKey('ed25519')
    const registry = new Registry()
    registry.add(sk.text)
    const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW })
    const { payload, blob } = tokenParts(sk.sign(PAYLOAD, { flags: 0x00 }))
    const f = splitBlob(blob)
    const inner = Buffer.from(f.inner)
    inner[inner.length - 5] = 0x01 // the flags byte precedes the uint32 counter
    expectRejected(() => verifier.verify(makeToken(payload, sshsigBlob({ ...f, inner }))), /does not verify/)
  })
})

describe('time bounds', () => {
  test('rejects at and after exp (exclusive), accepts just before', () => {
    const { token } = signed('{"exp":1700000100}')
    const registry = new Registry()
    registry.add(nodeKeyText(ed))
    let now = 1700000099
    const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => now })
    expect(verifier.verify(token).claims.exp).toBe(1700000100)
    now = 1700000100
    expectRejected(() => verifier.verify(token), /expired/)
    now = 1800000000
    expectRejected(() => verifier.verify(token), /expired/)
  })

  test('rejects before nbf, accepts from nbf on', () => {
    const { token } = signed('{"nbf":1700000100}')
    const registry = new Registry()
    registry.add(nodeKeyText(ed))
    let now = 1700000099
    const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => now })
    expectRejected(() => verifier.verify(token), /not valid yet/)
    now = 1700000100
    expect(verifier.verify(token).claims.nbf).toBe(1700000100)
  })
})

describe('key lookup and revocation', () => {
  test('rejects a token from an unknown key, naming its fingerprint', () => {
    const verifier = new TokenVerifier({ namespace: NS, lookup: () => undefined, now: () => NOW })
    const fp = sshKeygenFingerprint(`${FIXTURES}ed25519.pub`)
    const err = expectRejected(() => verifier.verify(fixtureToken('ed25519')), /not a registered key/)
    expect(err.message).toContain(fp)
  })

  test('rejects the second verify after the key is revoked between two verifies', () => {
    const { registry, verifier } = setup()
    const token = fixtureToken('ed25519')
    const first = verifier.verify(token)
    registry.keys.delete(first.fingerprint)
    expectRejected(() => verifier.verify(token), /not a registered key/)
  })

  test('asks lookup on every verify (no cached authorisation)', () => {
    const { registry, verifier } = setup()
    for (let i = 0; i < 3; i++) verifier.verify(fixtureToken('ed25519'))
    expect(registry.calls).toBe(3)
  })

  test('rejects when lookup answers a different key for the fingerprint', () => {
    const { registry, verifier } = setup()
    const fp = verifier.verify(fixtureToken('ed25519')).fingerprint
    registry.keys.set(fp, { keyId: 'k9', userId: 'u9', publicKey: fixturePublicKey('ecdsa256') })
    expectRejected(() => verifier.verify(fixtureToken('ed25519')), /names a different key/)
  })

  test('reports a registered key stored in non-canonical form as an internal error', () => {
    const { registry, verifier } = setup()
    const fp = verifier.verify(fixtureToken('ed25519')).fingerprint
    registry.keys.set(fp, { keyId: 'k1', userId: 'u1', publicKey: `${fixturePublicKey('ed25519')} comment` })
    let err: unknown
    try {
      verifier.verify(fixtureToken('ed25519'))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CommandError)
    expect((err as CommandError).code).toBe('internal')
  })

  test('error messages never echo the token', () => {
    const { verifier } = setup()
    const token = fixtureToken('ed25519')
    const [, p, s] = token.split('.')
    for (const bad of [token.replace('boxd0', 'boxd9'), `${token}=`, `boxd0.${p}.${s.slice(0, -8)}`, makeToken('{"x":1}', tokenParts(token).blob)]) {
      const err = expectRejected(() => verifier.verify(bad), /./)
      expect(err.hint).toBeTruthy()
      for (const fragment of [p.slice(0, 16), s.slice(0, 16), s.slice(-16)]) {
        expect(err.message).not.toContain(fragment)
        expect(err.hint).not.toContain(fragment)
      }
    }
  })
})

test('parseToken checks syntax only and exposes the exact signed bytes', () => {
  const parsed = parseToken(fixtureToken('ed25519'))
  expect(parsed.payloadBytes.toString()).toBe(PAYLOAD)
  expect(parsed.claims).toStrictEqual(EXPECTED)
  expect(parsed.sig.namespace.toString()).toBe(NS)
  expect(parsed.sig.hashAlgorithm).toBe('sha512')
  expect(b64u(parsed.payloadBytes)).toBe(fixtureToken('ed25519').split('.')[1])
})
