// Mutation fuzz: random byte flips, truncations and splices of valid tokens of every key type,
// at the text level and inside the decoded payload and SSHSIG blob. None may verify, and every
// rejection must be a CommandError('unauthenticated'), never a TypeError/RangeError (a 500).
import { expect, test } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { TokenVerifier } from '../../src/auth/token.js'
import { FIXTURE_KEYS, NOW, NS, PAYLOAD, Registry, b64u, fixturePublicKey, fixtureToken, makeToken, rng, skKey, tokenParts } from './helpers.js'

const PER_BASE = 1500
const TEXT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\0é'

test(`${PER_BASE} mutations of a valid token per key type are all rejected as unauthenticated`, () => {
  const started = Date.now()
  const rand = rng(0xb0cd0)
  const int = (n: number) => Math.floor(rand() * n)
  const registry = new Registry()
  for (const k of FIXTURE_KEYS) registry.add(fixturePublicKey(k))
  const sks = [skKey('ed25519'), skKey('ecdsa')]
  for (const sk of sks) registry.add(sk.text)
  const verifier = new TokenVerifier({ namespace: NS, lookup: registry.lookup, now: () => NOW })

  const bases = [...FIXTURE_KEYS.map((k) => fixtureToken(k)), fixtureToken('rsa.sha256'), ...sks.map((sk) => sk.sign(PAYLOAD))]
  for (const t of bases) expect(verifier.verify(t).payload).toBe(PAYLOAD) // the mutants' parents are valid
  const valid = new Set(bases)

  const flipBits = (b: Buffer) => {
    const out = Buffer.from(b)
    for (let n = 1 + int(3); n > 0; n--) out[int(out.length)] ^= 1 << int(8)
    return out
  }
  const splice = (a: Buffer, b: Buffer) => Buffer.concat([a.subarray(0, int(a.length + 1)), b.subarray(int(b.length + 1))])
  const mutate = (token: string): string => {
    const { payload, blob } = tokenParts(token)
    const other = tokenParts(bases[int(bases.length)])
    const at = int(token.length)
    switch (int(9)) {
      case 0: return token.slice(0, at) + TEXT_CHARS[int(TEXT_CHARS.length)] + token.slice(at + 1)
      case 1: return token.slice(0, at)
      case 2: { const o = bases[int(bases.length)]; return token.slice(0, at) + o.slice(int(o.length)) }
      case 3: return makeToken(payload, flipBits(blob))
      case 4: return makeToken(payload, blob.subarray(0, int(blob.length)))
      case 5: return makeToken(payload, Buffer.concat([blob, Buffer.from([int(256)])]))
      case 6: return makeToken(payload, splice(blob, other.blob))
      case 7: return makeToken(flipBits(payload), blob)
      default: return `boxd0.${b64u(splice(payload, other.payload))}.${b64u(blob)}`
    }
  }

  let accepted = 0
  let total = 0
  const wrongErrors: string[] = []
  const reasons = new Map<string, number>()
  for (const base of bases) {
    for (let i = 0; i < PER_BASE; i++) {
      let m = mutate(base)
      while (valid.has(m)) m = mutate(base) // a splice can rebuild a valid token exactly; that is no mutation
      total++
      try {
        verifier.verify(m)
        accepted++
      } catch (err) {
        if (!(err instanceof CommandError) || err.code !== 'unauthenticated') wrongErrors.push(String(err))
        else {
          const reason = err.message.replace(/SHA256:\S+/, 'SHA256:…').replace(/offset \d+/, 'offset N')
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
        }
      }
    }
  }
  expect(wrongErrors).toStrictEqual([])
  expect(accepted).toBe(0)
  expect(total).toBeGreaterThanOrEqual(10_000)
  // The fuzz must reach deep: syntax, JSON, SSHSIG structure and the signature check itself.
  expect(reasons.size).toBeGreaterThanOrEqual(15)
  expect([...reasons.keys()].some((r) => /does not verify/.test(r))).toBe(true)
  expect(Date.now() - started).toBeLessThan(30_000)
}, 60_000)
