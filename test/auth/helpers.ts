// Shared fixtures for the token tests. The wire encoders here are written independently of
// src/auth/sshsig.ts on purpose, so a shared misunderstanding of the format cannot hide.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { fingerprint, publicKeyBlob } from '../../src/auth/sshsig.js'
import type { KeyLookup } from '../../src/auth/token.js'

export const NS = 'v0@boxd.localhost'
export const NOW = 1_700_000_000
export const FIXTURES = fileURLToPath(new URL('../fixtures/tokens/', import.meta.url))
/** Key pairs made by scripts/make-token-fixtures.sh with the real ssh-keygen. */
export const FIXTURE_KEYS = ['ed25519', 'rsa', 'ecdsa256', 'ecdsa384', 'ecdsa521'] as const
export type FixtureKey = (typeof FIXTURE_KEYS)[number]
export const PAYLOAD = readFileSync(FIXTURES + 'payload.json', 'utf8')

export function fixtureToken(name: string): string {
  return readFileSync(`${FIXTURES}${name}.token`, 'utf8').trim()
}

/** `type base64` of a fixture .pub file (its comment dropped: the canonical registered form). */
export function fixturePublicKey(name: FixtureKey): string {
  return readFileSync(`${FIXTURES}${name}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')
}

// ---- SSH wire encoding --------------------------------------------------------------------

export const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
export const str = (b: Buffer | string) => Buffer.concat([u32(Buffer.byteLength(b)), Buffer.from(b)])
export const mpint = (b: Buffer) => {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  const v = b.subarray(i)
  return str(v[0] & 0x80 ? Buffer.concat([Buffer.of(0), v]) : v)
}
export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest()
export const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url')

/** What SSHSIG signs (PROTOCOL.sshsig). */
export function signedData(ns: string, hash: 'sha256' | 'sha512', message: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from('SSHSIG'), str(ns), str(''), str(hash), str(createHash(hash).update(message).digest())])
}

export interface BlobFields { pub: Buffer; ns: string; hash: string; inner: Buffer; version?: number; reserved?: Buffer }
export function sshsigBlob(f: BlobFields): Buffer {
  return Buffer.concat([Buffer.from('SSHSIG'), u32(f.version ?? 1), str(f.pub), str(f.ns), str(f.reserved ?? Buffer.alloc(0)), str(f.hash), str(f.inner)])
}

/** Decodes an SSHSIG blob without validation (for building variants of real signatures). */
export function splitBlob(blob: Buffer): Required<BlobFields> {
  let p = 10
  const next = () => {
    const n = blob.readUInt32BE(p)
    const v = blob.subarray(p + 4, p + 4 + n)
    p += 4 + n
    return v
  }
  const version = blob.readUInt32BE(6)
  const pub = next(), ns = next().toString(), reserved = next(), hash = next().toString(), inner = next()
  return { version, pub, ns, reserved, hash, inner }
}

export function tokenParts(token: string): { payload: Buffer; blob: Buffer } {
  const [, p, s] = token.split('.')
  return { payload: Buffer.from(p, 'base64url'), blob: Buffer.from(s, 'base64url') }
}

export function makeToken(payload: Buffer | string, blob: Buffer): string {
  return `boxd0.${b64u(payload)}.${b64u(blob)}`
}

// ---- keys that ssh-keygen cannot make here --------------------------------------------------

export interface TestKey { text: string; blob: Buffer; sign(payload: string, opts?: { ns?: string; flags?: number }): string }

/**
 * A FIDO key (sk-ssh-ed25519 / sk-ecdsa-sha2-nistp256) simulated with a software key: the
 * signature has the exact sk wire format (PROTOCOL.u2f), flags included, so tests can set or
 * clear the user-presence bit.
 */
export function skKey(kind: 'ed25519' | 'ecdsa', application = 'ssh:'): TestKey {
  const { privateKey, publicKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const d = (s?: string) => Buffer.from(s ?? '', 'base64url')
  const type = kind === 'ed25519' ? 'sk-ssh-ed25519@openssh.com' : 'sk-ecdsa-sha2-nistp256@openssh.com'
  const blob = kind === 'ed25519'
    ? Buffer.concat([str(type), str(d(jwk.x)), str(application)])
    : Buffer.concat([str(type), str('nistp256'), str(Buffer.concat([Buffer.of(4), d(jwk.x), d(jwk.y)])), str(application)])
  return {
    blob,
    text: `${type} ${blob.toString('base64')}`,
    sign(payload, { ns = NS, flags = 0x01 } = {}) {
      const counter = u32(42)
      const authData = Buffer.concat([sha256(application), Buffer.of(flags), counter, sha256(signedData(ns, 'sha512', payload))])
      let sig: Buffer
      if (kind === 'ed25519') {
        sig = sign(null, authData, privateKey)
      } else {
        const rs = sign('sha256', authData, { key: privateKey, dsaEncoding: 'ieee-p1363' })
        sig = Buffer.concat([mpint(rs.subarray(0, 32)), mpint(rs.subarray(32))])
      }
      const inner = Buffer.concat([str(type), str(sig), Buffer.of(flags), counter])
      return makeToken(payload, sshsigBlob({ pub: blob, ns, hash: 'sha512', inner }))
    },
  }
}

/** An RSA key that signs the old way: PKCS#1 v1.5 over SHA-1, signature type "ssh-rsa". */
export function sha1RsaKey(): TestKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const blob = publicKeyBlob(privateKey)
  return {
    blob,
    text: `ssh-rsa ${blob.toString('base64')}`,
    sign(payload, { ns = NS } = {}) {
      const inner = Buffer.concat([str('ssh-rsa'), str(sign('sha1', signedData(ns, 'sha512', payload), privateKey))])
      return makeToken(payload, sshsigBlob({ pub: blob, ns, hash: 'sha512', inner }))
    },
  }
}

export function nodeKeyText(key: KeyObject): string {
  const blob = publicKeyBlob(key)
  return `${blob.subarray(4, 4 + blob.readUInt32BE(0)).toString()} ${blob.toString('base64')}`
}

// ---- registry and assertions ----------------------------------------------------------------

/** A mutable stand-in for the store's "registered, non-removed keys of active users". */
export class Registry {
  readonly keys = new Map<string, { keyId: string; userId: string; publicKey: string }>()
  calls = 0
  add(text: string, userId = 'u1'): string {
    const fp = fingerprint(Buffer.from(text.split(' ')[1], 'base64'))
    this.keys.set(fp, { keyId: `k${this.keys.size + 1}`, userId, publicKey: text })
    return fp
  }
  readonly lookup: KeyLookup = (fp) => {
    this.calls++
    return this.keys.get(fp)
  }
}

/** Runs `fn`, asserting it throws CommandError('unauthenticated') whose message matches `re`. */
export function expectRejected(fn: () => unknown, re: RegExp): CommandError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(CommandError)
  const err = caught as CommandError
  expect(err.code).toBe('unauthenticated')
  expect(err.message).toMatch(re)
  return err
}

/** `ssh-keygen -lf` fingerprint of a public key text. */
export function sshKeygenFingerprint(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }).split(' ')[1]
}

/** Small seeded PRNG (mulberry32), so fuzz and differential corpora are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
