// SSHSIG (OpenSSH PROTOCOL.sshsig): strict parsing, and verification with node:crypto only.
//
// Blob:        "SSHSIG" uint32(1) string(publickey) string(namespace) string(reserved)
//              string(hash_algorithm) string(signature)
// Signed data: "SSHSIG" string(namespace) string(reserved) string(hash_algorithm) string(H(message))
//
// Public keys are parsed from their wire blobs by hand rather than with sshpk: the SSHSIG parser
// needs the same reader, sshpk does not know sk-* (FIDO) keys, and the hot path must not touch
// sshpk or tweetnacl (node:crypto ed25519 is ~55x faster).
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto'
import { CommandError } from '../errors.js'

export type SshSigHash = 'sha256' | 'sha512'

export type SshKeyType =
  | 'ssh-ed25519'
  | 'ssh-rsa'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'sk-ssh-ed25519@openssh.com'
  | 'sk-ecdsa-sha2-nistp256@openssh.com'

export interface ParsedSshSig {
  /** Wire blob of the key that claims to have signed. */
  publicKey: Buffer
  /** Namespace as written in the blob; only ever compared with the one we expect. */
  namespace: Buffer
  hashAlgorithm: SshSigHash
  /** The inner SSH signature (string type, string blob[, byte flags, uint32 counter]). */
  signature: Buffer
}

export interface SshPublicKey {
  type: SshKeyType
  /** Wire blob, as registered and as named inside signatures. */
  blob: Buffer
  fingerprint: string
  key: KeyObject
  /** ECDSA only: the curve's field size (bytes per r/s) and its RFC 5656 hash. */
  ecdsa?: { size: number; hash: 'sha256' | 'sha384' | 'sha512' }
  /** sk-* only: FIDO application (usually "ssh:"), hashed into what the authenticator signs. */
  application?: Buffer
}

const MAGIC = Buffer.from('SSHSIG')
// Smaller RSA moduli are factorable by well-funded attackers; refuse them as token signers.
const RSA_MIN_BITS = 2048
// OpenSSH's own upper bound (SSHBUF_MAX_BIGNUM); bounds the cost of a hostile key.
const RSA_MAX_BITS = 16384
// FIDO authenticator data flag: the user touched the key. Without it, malware on the signer's
// machine could mint tokens silently, which is the one thing sk keys exist to prevent.
const SK_USER_PRESENT = 0x01

const CURVES = {
  nistp256: { jwk: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { jwk: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { jwk: 'P-521', size: 66, hash: 'sha512' },
} as const
type CurveName = keyof typeof CURVES

const SIGN_HINT = 'sign the payload with `ssh-keygen -Y sign` (the boxdtoken shell function does this)'

function malformed(what: string): CommandError {
  return new CommandError('unauthenticated', `SSH signature is malformed: ${what}`, { hint: SIGN_HINT })
}

function invalid(what: string, hint = SIGN_HINT): CommandError {
  return new CommandError('unauthenticated', what, { hint })
}

/** Bounds-checked reader for SSH wire encoding (RFC 4251 §5). */
class WireReader {
  private pos = 0
  constructor(private readonly buf: Buffer, private readonly what: string) {}

  u8(): number {
    if (this.pos + 1 > this.buf.length) throw malformed(`${this.what} is truncated`)
    return this.buf[this.pos++]
  }

  u32(): number {
    if (this.pos + 4 > this.buf.length) throw malformed(`${this.what} is truncated`)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  bytes(n: number): Buffer {
    if (n > this.buf.length - this.pos) throw malformed(`${this.what} is truncated`)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  string(): Buffer {
    return this.bytes(this.u32())
  }

  /** A string compared against ASCII constants; latin1 maps bytes 1:1, so no two blobs collide. */
  name(): string {
    return this.string().toString('latin1')
  }

  /** RFC 4251 mpint that must be positive and minimally encoded (OpenSSH's own output always is). */
  positiveMpint(): Buffer {
    const b = this.string()
    if (b.length === 0 || b[0] & 0x80) throw malformed(`${this.what} has a zero or negative integer`)
    if (b[0] === 0 && (b.length === 1 || !(b[1] & 0x80))) throw malformed(`${this.what} has a non-minimal integer`)
    return b[0] === 0 ? b.subarray(1) : b
  }

  end(): void {
    if (this.pos !== this.buf.length) throw malformed(`trailing bytes after the ${this.what}`)
  }
}

/** Parses an SSHSIG blob. Throws `unauthenticated` on any defect, including trailing bytes. */
export function parseSshSig(blob: Buffer): ParsedSshSig {
  const r = new WireReader(blob, 'SSHSIG blob')
  if (!r.bytes(MAGIC.length).equals(MAGIC)) throw malformed('missing the SSHSIG magic')
  // Exactly 1 (OpenSSH also takes 0): one format, one spelling per signature.
  if (r.u32() !== 1) throw malformed('unsupported SSHSIG version (want 1)')
  const publicKey = r.string()
  const namespace = r.string()
  // OpenSSH always signs an empty reserved field and rebuilds it empty when verifying; anything
  // else is either a future format we do not understand or bytes an attacker may vary freely.
  if (r.string().length !== 0) throw malformed('the reserved field is not empty')
  const hash = r.name()
  if (hash !== 'sha256' && hash !== 'sha512') throw malformed('hash algorithm must be sha256 or sha512')
  const signature = r.string()
  r.end()
  return { publicKey, namespace, hashAlgorithm: hash, signature }
}

/** `SHA256:<unpadded base64>` of a key blob, exactly as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

/** Converts an OpenSSH public key wire blob to a node:crypto KeyObject. */
export function parsePublicKey(blob: Buffer): SshPublicKey {
  const r = new WireReader(blob, 'public key')
  const type = r.name()
  const b64u = (b: Buffer) => b.toString('base64url')
  const jwk = (key: Record<string, string>): KeyObject => {
    try {
      return createPublicKey({ key, format: 'jwk' })
    } catch {
      // e.g. an EC point that is not on the curve
      throw malformed('the public key is not a valid key of its type')
    }
  }
  const ecPoint = (curve: CurveName): KeyObject => {
    if (r.name() !== curve) throw malformed('the ECDSA curve does not match the key type')
    const { jwk: crv, size } = CURVES[curve]
    const q = r.string()
    // Only uncompressed points (0x04 || x || y), the one form OpenSSH writes.
    if (q.length !== 1 + 2 * size || q[0] !== 0x04) throw malformed('the ECDSA point is not an uncompressed point')
    return jwk({ kty: 'EC', crv, x: b64u(q.subarray(1, 1 + size)), y: b64u(q.subarray(1 + size)) })
  }
  const ed25519 = (): KeyObject => {
    const pk = r.string()
    if (pk.length !== 32) throw malformed('the ed25519 key is not 32 bytes')
    return jwk({ kty: 'OKP', crv: 'Ed25519', x: b64u(pk) })
  }
  // The parts that differ per type; blob and fingerprint are common.
  let parts: Pick<SshPublicKey, 'type' | 'key' | 'ecdsa' | 'application'>
  switch (type) {
    case 'ssh-ed25519':
      parts = { type, key: ed25519() }
      break
    case 'sk-ssh-ed25519@openssh.com':
      parts = { type, key: ed25519(), application: r.string() }
      break
    case 'ssh-rsa': {
      const e = r.positiveMpint()
      const n = r.positiveMpint()
      const key = jwk({ kty: 'RSA', n: b64u(n), e: b64u(e) })
      const { modulusLength: bits = 0, publicExponent: exp = 0n } = key.asymmetricKeyDetails ?? {}
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        throw invalid(`RSA keys must have ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits to sign tokens`, 'sign with an ed25519 key (ssh-keygen -t ed25519)')
      }
      // e = 1 (or any even e) makes "verification" meaningless; real keys use 65537.
      if (exp < 3n || exp % 2n === 0n) throw malformed('the RSA public exponent is not a valid one')
      parts = { type, key }
      break
    }
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521': {
      const curve = type.slice('ecdsa-sha2-'.length) as CurveName
      parts = { type, key: ecPoint(curve), ecdsa: CURVES[curve] }
      break
    }
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      parts = { type, key: ecPoint('nistp256'), ecdsa: CURVES.nistp256, application: r.string() }
      break
    default:
      throw invalid('the signing key type is not supported for tokens', 'use an ed25519, ecdsa, rsa (rsa-sha2-256/512) or FIDO sk key')
  }
  r.end()
  return { ...parts, blob, fingerprint: fingerprint(blob) }
}

/** The bytes SSHSIG actually signs, rebuilt from the namespace the caller expects. */
/** The bytes an SSHSIG signature covers (PROTOCOL.sshsig §2). */
export function signedData(namespace: string, hash: SshSigHash, message: Buffer): Buffer {
  return Buffer.concat([
    MAGIC,
    wireString(Buffer.from(namespace)),
    wireString(Buffer.alloc(0)),
    wireString(Buffer.from(hash)),
    wireString(createHash(hash).update(message).digest()),
  ])
}

/** r, s mpints (RFC 5656 §3.1.2) → fixed-width r || s, the ieee-p1363 form node:crypto takes. */
function ecdsaP1363(blob: Buffer, size: number): Buffer {
  const r = new WireReader(blob, 'ECDSA signature')
  const rs = [r.positiveMpint(), r.positiveMpint()]
  r.end()
  const out = Buffer.alloc(2 * size)
  for (const [i, v] of rs.entries()) {
    if (v.length > size) throw malformed('an ECDSA signature integer is larger than the curve')
    v.copy(out, (i + 1) * size - v.length)
  }
  return out
}

/**
 * Verifies `sig` over `message` for `namespace` with the registered key `key`. The signed data is
 * rebuilt from OUR namespace, never the blob's, and the blob's namespace must match it too, so a
 * signature made for git, a file or another boxd host can never pass as one of ours.
 * Throws `unauthenticated` unless the signature is valid.
 */
export function verifySshSig(sig: ParsedSshSig, message: Buffer, namespace: string, key: SshPublicKey): void {
  // The fingerprint lookup already implies this, but compare the bytes: a lookup that normalises
  // or a collision must never let one key's signature be checked against another's.
  if (!sig.publicKey.equals(key.blob)) throw invalid('the signature names a different key than the registered one')
  // Bytes, not C strings: OpenSSH would take "v0@boxd.localhost\0" for "v0@boxd.localhost".
  if (!sig.namespace.equals(Buffer.from(namespace))) {
    throw invalid(`the signature was made for a different namespace than "${namespace}"`, `sign with \`ssh-keygen -Y sign -n ${namespace}\``)
  }
  const data = signedData(namespace, sig.hashAlgorithm, message)
  const r = new WireReader(sig.signature, 'signature')
  const sigType = r.name()
  const blob = r.string()
  let ok: boolean
  switch (key.type) {
    case 'ssh-ed25519':
      if (sigType !== key.type) throw malformed('the signature type does not match the key')
      r.end()
      ok = verifies(null, data, key.key, blob)
      break
    case 'ssh-rsa': {
      // "ssh-rsa" here means PKCS#1 v1.5 over SHA-1, which is broken for chosen-prefix collisions.
      if (sigType === 'ssh-rsa') throw invalid('RSA signatures over SHA-1 (ssh-rsa) are refused', 'sign with a current ssh-keygen, which uses rsa-sha2-512')
      const hash = sigType === 'rsa-sha2-256' ? 'sha256' : sigType === 'rsa-sha2-512' ? 'sha512' : undefined
      if (!hash) throw malformed('the signature type does not match the key')
      r.end()
      ok = verifies(hash, data, key.key, blob)
      break
    }
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521': {
      if (sigType !== key.type) throw malformed('the signature type does not match the key')
      r.end()
      const ec = key.ecdsa!
      ok = verifies(ec.hash, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, ecdsaP1363(blob, ec.size))
      break
    }
    case 'sk-ssh-ed25519@openssh.com':
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      // PROTOCOL.u2f: the authenticator signs SHA256(application) || flags || counter || SHA256(data).
      if (sigType !== key.type) throw malformed('the signature type does not match the key')
      const flags = r.u8()
      const counter = r.bytes(4)
      r.end()
      if (!(flags & SK_USER_PRESENT)) {
        throw invalid('the security-key signature lacks user presence', 'touch the security key when signing; do not sign with -O no-touch-required')
      }
      const signed = Buffer.concat([sha256(key.application!), Buffer.of(flags), counter, sha256(data)])
      ok = key.type === 'sk-ssh-ed25519@openssh.com'
        ? verifies(null, signed, key.key, blob)
        : verifies('sha256', signed, { key: key.key, dsaEncoding: 'ieee-p1363' }, ecdsaP1363(blob, 32))
      break
    }
  }
  if (!ok) throw invalid('the signature does not verify: the payload or signature was altered, or another key signed it')
}

/**
 * node:crypto verify, where any refusal by OpenSSL is a failed verification, never an exception
 * (a 500). OpenSSL also enforces exact signature lengths (64 bytes for ed25519, the modulus
 * length for RSA), so short or padded signatures fail here.
 */
function verifies(hash: string | null, data: Buffer, key: KeyObject | VerifyKeyObjectInput, sig: Buffer): boolean {
  try {
    return cryptoVerify(hash, data, key, sig)
  } catch {
    return false
  }
}

function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest()
}

function wireString(b: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}

function wireMpint(b: Buffer): Buffer {
  let i = 0
  while (i < b.length && b[i] === 0) i++
  const v = b.subarray(i)
  return wireString(v.length > 0 && v[0] & 0x80 ? Buffer.concat([Buffer.of(0), v]) : v)
}

/** OpenSSH wire blob for a node:crypto ed25519, ECDSA (P-256/384/521) or RSA key (public or private). */
export function publicKeyBlob(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' })
  const d = (s: string | undefined) => Buffer.from(s ?? '', 'base64url')
  const s = (text: string) => wireString(Buffer.from(text))
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return Buffer.concat([s('ssh-ed25519'), wireString(d(jwk.x))])
  if (jwk.kty === 'RSA') return Buffer.concat([s('ssh-rsa'), wireMpint(d(jwk.e)), wireMpint(d(jwk.n))])
  const curve = (Object.keys(CURVES) as CurveName[]).find((c) => CURVES[c].jwk === jwk.crv)
  if (jwk.kty === 'EC' && curve) {
    const point = Buffer.concat([Buffer.of(4), d(jwk.x), d(jwk.y)])
    return Buffer.concat([s(`ecdsa-sha2-${curve}`), s(curve), wireString(point)])
  }
  throw new TypeError(`unsupported key for SSH: ${key.asymmetricKeyType}`)
}

/** The canonical `type base64` text of a key blob (authorized_keys form without a comment). */
export function publicKeyText(blob: Buffer): string {
  return `${new WireReader(blob, 'public key').name()} ${blob.toString('base64')}`
}

/**
 * Signs `message` as `ssh-keygen -Y sign -n <namespace>` would, returning the binary SSHSIG blob.
 * For minting tokens in-process (CLI, benchmarks); RSA uses rsa-sha2-512 like OpenSSH.
 */
export function signSshSig(message: Buffer, namespace: string, privateKey: KeyObject, hash: SshSigHash = 'sha512'): Buffer {
  const pub = publicKeyBlob(privateKey)
  const type = new WireReader(pub, 'public key').name()
  const data = signedData(namespace, hash, message)
  let sigType = type
  let sig: Buffer
  if (type === 'ssh-ed25519') {
    sig = cryptoSign(null, data, privateKey)
  } else if (type === 'ssh-rsa') {
    sigType = 'rsa-sha2-512'
    sig = cryptoSign('sha512', data, privateKey)
  } else {
    const { size, hash: ecHash } = CURVES[type.slice('ecdsa-sha2-'.length) as CurveName]
    const p1363 = cryptoSign(ecHash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    sig = Buffer.concat([wireMpint(p1363.subarray(0, size)), wireMpint(p1363.subarray(size))])
  }
  return encodeSshSig(pub, namespace, hash, sigType, sig)
}

/** The binary SSHSIG blob around an SSH signature (`sigType`, `sig`) made by `pub` (wire blob). */
export function encodeSshSig(pub: Buffer, namespace: string, hash: SshSigHash, sigType: string, sig: Buffer): Buffer {
  const inner = Buffer.concat([wireString(Buffer.from(sigType)), wireString(sig)])
  const version = Buffer.alloc(4)
  version.writeUInt32BE(1)
  return Buffer.concat([
    MAGIC, version, wireString(pub), wireString(Buffer.from(namespace)), wireString(Buffer.alloc(0)),
    wireString(Buffer.from(hash)), wireString(inner),
  ])
}
