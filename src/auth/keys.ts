// Parsing an authorized_keys-style public key into its canonical form and SHA256 fingerprint.
// sshpk does the parsing and sizing; FIDO (sk-*) keys, which sshpk does not know, are read here
// with a minimal wire-format check.
import { createHash } from 'node:crypto'
import sshpk from 'sshpk'
import { usage } from '../errors.js'

export interface PublicKeyInfo {
  type: string          // wire type, e.g. ssh-ed25519
  canonical: string     // "type base64" (no comment)
  fingerprint: string   // SHA256:… as ssh-keygen -l prints
  comment: string
  bits: number
}

const SK_TYPES = new Set(['sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com'])
const MIN_RSA_BITS = 2048

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

export function parsePublicKey(text: string): PublicKeyInfo {
  const line = text.trim()
  if (line.includes('\n')) throw usage('expected one public key, got several lines', 'pass a single line from a .pub file')
  if (/PRIVATE KEY/.test(line)) throw usage('that is a private key: never send it anywhere', 'pass the .pub file instead')
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(line)
  if (!m) throw usage('not an SSH public key (expected "TYPE BASE64 [COMMENT]", as in a .pub file)')
  const [, type, b64, comment = ''] = m
  if (type === 'ssh-dss') throw usage('DSA keys are not accepted (weak and deprecated)', 'use ed25519: ssh-keygen -t ed25519')
  const blob = Buffer.from(b64, 'base64')
  if (blob.toString('base64') !== b64) throw usage('the key\'s base64 is malformed')
  const wireType = readString(blob, 0)?.value.toString('latin1')
  if (wireType !== type) throw usage(`key type "${type.slice(0, 40)}" does not match the key data`)

  let bits: number
  if (SK_TYPES.has(type)) {
    bits = checkSkKey(type, blob)
  } else {
    let key: sshpk.Key
    try {
      key = sshpk.parseKey(`${type} ${b64}`, 'ssh')
    } catch {
      throw usage(`unsupported or malformed ${type.slice(0, 40)} key`, 'supported: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (≥ 2048 bits), sk-ssh-ed25519, sk-ecdsa-sha2-nistp256')
    }
    if (key.type === 'dsa') throw usage('DSA keys are not accepted (weak and deprecated)', 'use ed25519: ssh-keygen -t ed25519')
    if (key.type === 'rsa' && key.size < MIN_RSA_BITS) throw usage(`RSA key is ${key.size} bits; at least ${MIN_RSA_BITS} are required`, 'ssh-keygen -t ed25519 makes a better key')
    bits = key.size
  }
  return { type, canonical: `${type} ${b64}`, fingerprint: fingerprintOf(blob), comment: comment.trim(), bits }
}

function checkSkKey(type: string, blob: Buffer): number {
  // sk-ssh-ed25519: string type, string pk(32), string application
  // sk-ecdsa-sha2-nistp256: string type, string curve, string Q, string application
  const fields: Buffer[] = []
  let off = 0
  while (off < blob.length) {
    const s = readString(blob, off)
    if (!s) throw usage(`malformed ${type} key`)
    fields.push(s.value)
    off = s.next
  }
  const ok = type.startsWith('sk-ssh-ed25519')
    ? fields.length === 3 && fields[1].length === 32 && fields[2].length > 0
    : fields.length === 4 && fields[1].toString() === 'nistp256' && fields[2].length === 65 && fields[3].length > 0
  if (!ok) throw usage(`malformed ${type} key`)
  return 256
}

function readString(buf: Buffer, off: number): { value: Buffer; next: number } | undefined {
  if (off + 4 > buf.length) return undefined
  const len = buf.readUInt32BE(off)
  if (off + 4 + len > buf.length) return undefined
  return { value: buf.subarray(off + 4, off + 4 + len), next: off + 4 + len }
}
