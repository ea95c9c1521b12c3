// SSHSIG parsing and verification below the token layer: wire-format strictness, key types,
// and agreement with ssh-keygen on fingerprints and key encodings.
import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { fingerprint, parsePublicKey, parseSshSig, publicKeyBlob, publicKeyText, signSshSig, verifySshSig } from '../../src/auth/sshsig.js'
import {
  FIXTURES, FIXTURE_KEYS, NS, PAYLOAD, expectRejected, fixturePublicKey, fixtureToken, mpint, signedData, skKey, splitBlob,
  sshKeygenFingerprint, sshsigBlob, str, tokenParts, u32,
} from './helpers.js'

const fixtureBlob = (k: string) => tokenParts(fixtureToken(k)).blob
const keyOf = (text: string) => parsePublicKey(Buffer.from(text.split(' ')[1], 'base64'))
const message = Buffer.from(PAYLOAD)

/** Parses and verifies `blob` for NS with the fixture key `k` (what TokenVerifier does). */
function check(blob: Buffer, k: (typeof FIXTURE_KEYS)[number] = 'ed25519', msg = message) {
  verifySshSig(parseSshSig(blob), msg, NS, keyOf(fixturePublicKey(k)))
}

describe('parseSshSig', () => {
  test('reads every field of an ssh-keygen signature', () => {
    const sig = parseSshSig(fixtureBlob('rsa.sha256'))
    expect(sig.namespace.toString()).toBe(NS)
    expect(sig.hashAlgorithm).toBe('sha256')
    expect(publicKeyText(sig.publicKey)).toBe(fixturePublicKey('rsa'))
    expect(sig.signature.subarray(4, 16).toString()).toBe('rsa-sha2-512')
  })

  test.each(FIXTURE_KEYS)('rejects every truncation of a %s signature', (k) => {
    const blob = fixtureBlob(k)
    for (let n = 0; n < blob.length; n++) expectRejected(() => parseSshSig(blob.subarray(0, n)), /malformed/)
  })

  test('rejects a length that runs past the end', () => {
    const blob = Buffer.from(fixtureBlob('ed25519'))
    blob.writeUInt32BE(0xffffffff, 10) // publickey length
    expectRejected(() => parseSshSig(blob), /truncated/)
  })

  test.each([
    ['wrong magic', (b: Buffer) => Buffer.concat([Buffer.from('SSHSIH'), b.subarray(6)]), /magic/],
    ['version 2', (b: Buffer) => sshsigBlob({ ...splitBlob(b), version: 2 }), /version/],
    ['hash sha1', (b: Buffer) => sshsigBlob({ ...splitBlob(b), hash: 'sha1' }), /sha256 or sha512/],
    ['hash sha384', (b: Buffer) => sshsigBlob({ ...splitBlob(b), hash: 'sha384' }), /sha256 or sha512/],
    ['hash SHA512', (b: Buffer) => sshsigBlob({ ...splitBlob(b), hash: 'SHA512' }), /sha256 or sha512/],
    ['hash with a NUL', (b: Buffer) => sshsigBlob({ ...splitBlob(b), hash: 'sha512\0' }), /sha256 or sha512/],
    ['trailing byte', (b: Buffer) => Buffer.concat([b, Buffer.of(0)]), /trailing bytes after the SSHSIG blob/],
  ])('rejects %s', (_, mutate, re) => {
    expectRejected(() => parseSshSig(mutate(fixtureBlob('ed25519'))), re)
  })
})

describe('fields OpenSSH tolerates but we refuse (signature otherwise valid)', () => {
  // ssh-keygen -Y verify accepts both of these (see differential.test.ts); we do not, because a
  // field nobody checks is a field an attacker may vary to make two different valid tokens.
  test('version 0', () => {
    expectRejected(() => check(sshsigBlob({ ...splitBlob(fixtureBlob('ed25519')), version: 0 })), /version/)
  })
  test('non-empty reserved field', () => {
    expectRejected(() => check(sshsigBlob({ ...splitBlob(fixtureBlob('ed25519')), reserved: Buffer.from('x') })), /reserved/)
  })
})

describe('verifySshSig', () => {
  test.each(FIXTURE_KEYS)('verifies ssh-keygen %s signatures (sha512 and sha256)', (k) => {
    check(fixtureBlob(k), k)
    check(fixtureBlob(`${k}.sha256`), k)
  })

  test('rejects a hash algorithm relabelled from sha512 to sha256', () => {
    expectRejected(() => check(sshsigBlob({ ...splitBlob(fixtureBlob('ed25519')), hash: 'sha256' })), /does not verify/)
  })

  test('rejects a message changed by one bit', () => {
    const msg = Buffer.from(message)
    msg[10] ^= 1
    expectRejected(() => check(fixtureBlob('ecdsa384'), 'ecdsa384', msg), /does not verify/)
  })

  test('rejects a signature type that does not belong to the key', () => {
    const f = splitBlob(fixtureBlob('ecdsa256'))
    const inner = Buffer.concat([str('ecdsa-sha2-nistp384'), f.inner.subarray(4 + 19)])
    expectRejected(() => check(sshsigBlob({ ...f, inner }), 'ecdsa256'), /signature type does not match/)
  })

  test('accepts rsa-sha2-256 as well as rsa-sha2-512', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pub = publicKeyBlob(privateKey)
    const inner = Buffer.concat([str('rsa-sha2-256'), str(sign('sha256', signedData(NS, 'sha512', message), privateKey))])
    verifySshSig(parseSshSig(sshsigBlob({ pub, ns: NS, hash: 'sha512', inner })), message, NS, parsePublicKey(pub))
  })

  test('rejects an RSA signature with a leading zero byte added or removed', () => {
    const f = splitBlob(fixtureBlob('rsa'))
    const raw = f.inner.subarray(4 + 12 + 4)
    for (const sig of [Buffer.concat([Buffer.of(0), raw]), raw.subarray(1)]) {
      expectRejected(() => check(sshsigBlob({ ...f, inner: Buffer.concat([str('rsa-sha2-512'), str(sig)]) }), 'rsa'), /does not verify/)
    }
  })

  test('rejects a non-minimal ECDSA integer that OpenSSH would silently strip', () => {
    const f = splitBlob(fixtureBlob('ecdsa256'))
    const sig = f.inner.subarray(4 + 19 + 4)
    const rLen = sig.readUInt32BE(0)
    const r = sig.subarray(4, 4 + rLen)
    const padded = Buffer.concat([str(Buffer.concat([Buffer.of(0), r])), sig.subarray(4 + rLen)]) // same r, one more zero
    const inner = Buffer.concat([str('ecdsa-sha2-nistp256'), str(padded)])
    expectRejected(() => check(sshsigBlob({ ...f, inner }), 'ecdsa256'), /non-minimal integer/)
  })

  test('rejects negative, zero and oversized ECDSA integers', () => {
    const f = splitBlob(fixtureBlob('ecdsa256'))
    const s = mpint(Buffer.alloc(32, 7))
    for (const [r, re] of [
      [str(Buffer.of(0x80, 1)), /negative/],
      [str(Buffer.alloc(0)), /zero/],
      [mpint(Buffer.alloc(33, 7)), /larger than the curve/],
    ] as const) {
      const inner = Buffer.concat([str('ecdsa-sha2-nistp256'), str(Buffer.concat([r, s]))])
      expectRejected(() => check(sshsigBlob({ ...f, inner }), 'ecdsa256'), re)
    }
  })

  test('rejects a signature that names a different key than the registered one', () => {
    expectRejected(() => verifySshSig(parseSshSig(fixtureBlob('ed25519')), message, NS, keyOf(fixturePublicKey('rsa'))), /different key/)
  })

  test('sk: the application is part of what is signed', () => {
    const sk = skKey('ed25519', 'ssh:')
    const { payload, blob } = tokenParts(sk.sign(PAYLOAD))
    verifySshSig(parseSshSig(blob), payload, NS, parsePublicKey(sk.blob))
    const other = Buffer.concat([sk.blob.subarray(0, sk.blob.length - 8), str('ssh:x')]) // same point, application "ssh:x"
    const f = splitBlob(blob)
    expectRejected(() => verifySshSig(parseSshSig(sshsigBlob({ ...f, pub: other })), payload, NS, parsePublicKey(other)), /does not verify/)
  })

  test('signSshSig output verifies for every supported node key type', () => {
    for (const { privateKey } of [
      generateKeyPairSync('ed25519'),
      generateKeyPairSync('rsa', { modulusLength: 2048 }),
      generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      generateKeyPairSync('ec', { namedCurve: 'P-384' }),
      generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    ]) {
      for (const hash of ['sha256', 'sha512'] as const) {
        const sig = parseSshSig(signSshSig(message, NS, privateKey, hash))
        verifySshSig(sig, message, NS, parsePublicKey(publicKeyBlob(privateKey)))
        expect(sig.hashAlgorithm).toBe(hash)
      }
    }
  })
})

describe('parsePublicKey', () => {
  test('refuses RSA keys under 2048 bits', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    expectRejected(() => parsePublicKey(publicKeyBlob(publicKey)), /2048/)
  })

  test('refuses RSA exponents 1 and even ones', () => {
    const blob = publicKeyBlob(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)
    const n = blob.subarray(4 + 7 + 4 + 3) // after string "ssh-rsa" and mpint e = 65537
    for (const e of [1, 65536]) {
      const bad = Buffer.concat([str('ssh-rsa'), mpint(Buffer.from(e.toString(16).padStart(6, '0'), 'hex')), n])
      expectRejected(() => parsePublicKey(bad), /exponent/)
    }
  })

  test('refuses off-curve, compressed and mislabelled ECDSA points', () => {
    const good = Buffer.from(fixturePublicKey('ecdsa256').split(' ')[1], 'base64')
    const point = Buffer.from(good.subarray(good.length - 65))
    const offCurve = Buffer.from(point)
    offCurve[64] ^= 1
    const compressed = Buffer.concat([Buffer.of(2 + (point[64] & 1)), point.subarray(1, 33)])
    const t = 'ecdsa-sha2-nistp256'
    expectRejected(() => parsePublicKey(Buffer.concat([str(t), str('nistp256'), str(offCurve)])), /not a valid key/)
    expectRejected(() => parsePublicKey(Buffer.concat([str(t), str('nistp256'), str(compressed)])), /uncompressed/)
    expectRejected(() => parsePublicKey(Buffer.concat([str(t), str('nistp384'), str(point)])), /curve does not match/)
  })

  test('refuses unsupported key types and trailing bytes', () => {
    expectRejected(() => parsePublicKey(Buffer.concat([str('ssh-dss'), str('x')])), /not supported/)
    const ed = Buffer.from(fixturePublicKey('ed25519').split(' ')[1], 'base64')
    expectRejected(() => parsePublicKey(Buffer.concat([ed, u32(0)])), /trailing bytes after the public key/)
    expectRejected(() => parsePublicKey(Buffer.concat([str('ssh-ed25519'), str(Buffer.alloc(31))])), /32 bytes/)
  })
})

describe('agreement with ssh-keygen on key encodings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-sshsig-'))

  test.each(FIXTURE_KEYS)('fingerprint and text of %s match ssh-keygen', (k) => {
    const blob = Buffer.from(fixturePublicKey(k).split(' ')[1], 'base64')
    expect(fingerprint(blob)).toBe(sshKeygenFingerprint(`${FIXTURES}${k}.pub`))
    expect(publicKeyText(blob)).toBe(fixturePublicKey(k))
    expect(parsePublicKey(blob).fingerprint).toBe(fingerprint(blob))
  })

  test('fingerprints of sk keys and node-made keys match ssh-keygen', () => {
    const texts = [skKey('ed25519').text, skKey('ecdsa').text, ...[
      generateKeyPairSync('ed25519'), generateKeyPairSync('rsa', { modulusLength: 2048 }), generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    ].map(({ publicKey }) => publicKeyText(publicKeyBlob(publicKey)))]
    for (const [i, text] of texts.entries()) {
      const file = join(dir, `k${i}.pub`)
      writeFileSync(file, `${text} test\n`)
      expect(fingerprint(Buffer.from(text.split(' ')[1], 'base64'))).toBe(sshKeygenFingerprint(file))
    }
  })
})
