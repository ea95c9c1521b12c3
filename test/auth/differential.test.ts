// Differential test: over a corpus of valid and mutated SSHSIG signatures, our verifier and
// `ssh-keygen -Y verify` must agree on every sample, except where we are deliberately stricter
// (each such rule is listed in stricterThanOpenSSH and exercised on purpose below).
import { generateKeyPairSync } from 'node:crypto'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { fingerprint, parsePublicKey, parseSshSig, publicKeyBlob, publicKeyText, signSshSig, verifySshSig, type SshPublicKey } from '../../src/auth/sshsig.js'
import { FIXTURE_KEYS, NS, PAYLOAD, fixturePublicKey, fixtureToken, rng, sha1RsaKey, skKey, splitBlob, sshsigBlob, tokenParts } from './helpers.js'

interface Sample { label: string; blob: Buffer; message: Buffer }

const dir = mkdtempSync(join(tmpdir(), 'boxd-differential-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/**
 * Rules where ssh-keygen -Y verify (OpenSSH 9.x) accepts and we refuse:
 * - SSHSIG version 0 (OpenSSH accepts any version <= 1),
 * - a non-empty reserved field (OpenSSH skips it and verifies as if it were empty),
 * - an sk-* signature without the user-presence flag (ssh-keygen -Y verify does not check it),
 * - a namespace or hash name with a trailing NUL (OpenSSH reads them as C strings, so
 *   "v0@boxd.localhost\0" passes as "v0@boxd.localhost"; we compare bytes).
 */
function stricterThanOpenSSH(blob: Buffer): boolean {
  try {
    const f = splitBlob(blob)
    if (f.version === 0 || f.reserved.length > 0 || f.ns.endsWith('\0') || f.hash.endsWith('\0')) return true
    const typeLen = f.inner.readUInt32BE(0)
    if (!f.inner.subarray(4, 4 + typeLen).toString().startsWith('sk-')) return false
    const flags = f.inner[4 + typeLen + 4 + f.inner.readUInt32BE(4 + typeLen)]
    return flags !== undefined && (flags & 0x01) === 0
  } catch {
    return false
  }
}

function armor(blob: Buffer): string {
  const body = blob.toString('base64').replace(/.{70}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN SSH SIGNATURE-----\n${body}\n-----END SSH SIGNATURE-----\n`
}

function sshKeygenVerifies(allowed: string, i: number, s: Sample): Promise<boolean> {
  const sigFile = join(dir, `${i}.sig`)
  writeFileSync(sigFile, armor(s.blob))
  return new Promise((resolve, reject) => {
    const p = spawn('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'boxd', '-n', NS, '-s', sigFile], { stdio: ['pipe', 'ignore', 'ignore'] })
    p.on('error', reject)
    p.on('close', (code) => resolve(code === 0))
    p.stdin.on('error', () => {}) // ssh-keygen may exit before reading the message
    p.stdin.end(s.message)
  })
}

test('our SSHSIG verdicts match ssh-keygen -Y verify on a mixed corpus', async () => {
  const started = Date.now()
  const rand = rng(0x5ec5e1)
  const message = Buffer.from(PAYLOAD)

  // Signers: ssh-keygen's fixture keys, keys made by node, simulated FIDO keys, an SHA-1 RSA key.
  const nodeKeys = [
    generateKeyPairSync('ed25519'), generateKeyPairSync('rsa', { modulusLength: 2048 }),
    generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-384' }), generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  ].map((k) => k.privateKey)
  const sks = [skKey('ed25519'), skKey('ecdsa')]
  const sha1 = sha1RsaKey()
  const texts = [
    ...FIXTURE_KEYS.map(fixturePublicKey), ...nodeKeys.map((k) => publicKeyText(publicKeyBlob(k))), ...sks.map((k) => k.text), sha1.text,
  ]
  const allowed = join(dir, 'allowed_signers')
  writeFileSync(allowed, texts.map((t) => `boxd ${t}\n`).join(''))
  const registered = new Map<string, SshPublicKey>()
  for (const t of texts) {
    const key = parsePublicKey(Buffer.from(t.split(' ')[1], 'base64'))
    registered.set(key.fingerprint, key)
  }

  const fromToken = (label: string, token: string): Sample => ({ label, ...tokenParts(token), message: tokenParts(token).payload })
  const valid: Sample[] = [
    ...FIXTURE_KEYS.flatMap((k) => [fromToken(k, fixtureToken(k)), fromToken(`${k}.sha256`, fixtureToken(`${k}.sha256`))]),
    ...nodeKeys.map((k, i) => ({ label: `node-${i}`, blob: signSshSig(message, NS, k, i % 2 ? 'sha256' : 'sha512'), message })),
    ...sks.map((k, i) => fromToken(`sk-${i}`, k.sign(PAYLOAD))),
  ]
  const deliberate: Sample[] = [
    ...FIXTURE_KEYS.flatMap((k) => ['ns-git', 'ns-file', 'ns-machine'].map((ns) => fromToken(`${k}.${ns}`, fixtureToken(`${k}.${ns}`)))),
    fromToken('sha1-rsa', sha1.sign(PAYLOAD)),
    ...sks.map((k, i) => fromToken(`sk-${i}-no-presence`, k.sign(PAYLOAD, { flags: 0x00 }))),
    ...valid.slice(0, 4).flatMap((s) => [
      { ...s, label: `${s.label}-version0`, blob: sshsigBlob({ ...splitBlob(s.blob), version: 0 }) },
      { ...s, label: `${s.label}-reserved`, blob: sshsigBlob({ ...splitBlob(s.blob), reserved: Buffer.from('r') }) },
      { ...s, label: `${s.label}-ns-nul`, blob: sshsigBlob({ ...splitBlob(s.blob), ns: `${NS}\0` }) },
      { ...s, label: `${s.label}-hash-nul`, blob: sshsigBlob({ ...splitBlob(s.blob), hash: `${splitBlob(s.blob).hash}\0` }) },
    ]),
  ]
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]
  const mutants: Sample[] = []
  for (let i = 0; i < 240; i++) {
    const s = valid[i % valid.length]
    const b = Buffer.from(s.blob)
    const at = Math.floor(rand() * b.length)
    let out: Sample
    switch (i % 8) {
      case 0: case 1: // bit flips anywhere in the blob
        for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8)
        out = { ...s, blob: b }
        break
      case 2: // truncation
        out = { ...s, blob: b.subarray(0, at) }
        break
      case 3: // extension
        out = { ...s, blob: Buffer.concat([b, Buffer.from([Math.floor(rand() * 256)])]) }
        break
      case 4: { // splice with another signature
        const o = pick(valid).blob
        out = { ...s, blob: Buffer.concat([b.subarray(0, at), o.subarray(Math.min(at, o.length))]) }
        break
      }
      case 5: { // message bit flip
        const m = Buffer.from(s.message)
        m[Math.floor(rand() * m.length)] ^= 1 << Math.floor(rand() * 8)
        out = { ...s, message: m }
        break
      }
      case 6: // field rewrites that keep the structure well-formed
        out = { ...s, blob: sshsigBlob({ ...splitBlob(b), ...pick([{ ns: 'v0@boxd.localhosT' }, { ns: `${NS}\0` }, { hash: splitBlob(b).hash === 'sha512' ? 'sha256' : 'sha512' }, { pub: pick(valid.map((v) => splitBlob(v.blob).pub)) }]) }) }
        break
      default: // byte deletion
        out = { ...s, blob: Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]) }
    }
    mutants.push({ ...out, label: `${s.label}-mutant-${i}` })
  }

  const corpus = [...valid, ...deliberate, ...mutants]
  const ours = corpus.map((s) => {
    try {
      const sig = parseSshSig(s.blob)
      const key = registered.get(fingerprint(sig.publicKey))
      if (!key) return false
      verifySshSig(sig, s.message, NS, key)
      return true
    } catch (err) {
      expect(err).toBeInstanceOf(CommandError)
      expect((err as CommandError).code).toBe('unauthenticated')
      return false
    }
  })
  const theirs: boolean[] = []
  for (let i = 0; i < corpus.length; i += 16) {
    theirs.push(...(await Promise.all(corpus.slice(i, i + 16).map((s, j) => sshKeygenVerifies(allowed, i + j, s)))))
  }

  const disagreements = corpus
    .map((s, i) => ({ label: s.label, ours: ours[i], sshKeygen: theirs[i], stricter: stricterThanOpenSSH(s.blob) }))
    .filter((d) => d.ours !== (d.sshKeygen && !d.stricter))
  expect(disagreements).toStrictEqual([])
  expect(corpus.length).toBeGreaterThanOrEqual(250)
  // The corpus must exercise both verdicts and every deliberate divergence, or agreement is vacuous.
  expect(valid.every((_, i) => ours[i] && theirs[i])).toBe(true)
  expect(theirs.filter((t) => !t).length).toBeGreaterThan(corpus.length / 2)
  const stricter = corpus.map((s, i) => ({ s, i })).filter(({ s }) => stricterThanOpenSSH(s.blob))
  expect(stricter.length).toBeGreaterThanOrEqual(4 * 4 + 2)
  expect(stricter.filter(({ i }) => theirs[i]).length).toBeGreaterThanOrEqual(4 * 4 + 2) // ssh-keygen really accepts them
  expect(Date.now() - started).toBeLessThan(60_000)
}, 60_000)
