// Secrets boxd must be able to read back (webhook secrets) are sealed at rest with tweetnacl
// secretbox under a key in the data dir (ARCHITECTURE: Tokens). A copy of boxd.db alone does not
// reveal them; the key file must be backed up alongside it.
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import nacl from 'tweetnacl'

export const SEALING_KEY_FILE = 'sealing.key'
const VERSION = 'v1'

export class Sealer {
  private key?: Uint8Array

  constructor(private readonly dataDir: string) {}

  seal(plain: string): string {
    const nonce = new Uint8Array(randomBytes(nacl.secretbox.nonceLength))
    const box = nacl.secretbox(new TextEncoder().encode(plain), nonce, this.loadKey())
    return `${VERSION}.${Buffer.from(nonce).toString('base64url')}.${Buffer.from(box).toString('base64url')}`
  }

  open(sealed: string): string {
    const [version, nonce, box] = sealed.split('.')
    if (version !== VERSION || !nonce || !box) throw new Error('sealed secret: unknown format')
    const plain = nacl.secretbox.open(new Uint8Array(Buffer.from(box, 'base64url')), new Uint8Array(Buffer.from(nonce, 'base64url')), this.loadKey())
    // Wrong key (a data dir restored without its sealing.key) or a tampered row.
    if (!plain) throw new Error(`sealed secret does not open with ${SEALING_KEY_FILE} (was the key file restored with the database?)`)
    return new TextDecoder().decode(plain)
  }

  /** Created on first use with O_EXCL and mode 0600, so two processes never race to different keys. */
  private loadKey(): Uint8Array {
    if (this.key) return this.key
    const path = join(this.dataDir, SEALING_KEY_FILE)
    try {
      const fd = openSync(path, 'wx', 0o600)
      try { writeSync(fd, randomBytes(nacl.secretbox.keyLength)) } finally { closeSync(fd) }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    const key = readFileSync(path)
    if (key.length !== nacl.secretbox.keyLength) throw new Error(`${path}: expected ${nacl.secretbox.keyLength} bytes, found ${key.length}`)
    if ((statSync(path).mode & 0o077) !== 0) throw new Error(`${path} is readable by group or others: chmod 600 it`)
    this.key = new Uint8Array(key)
    return this.key
  }
}
