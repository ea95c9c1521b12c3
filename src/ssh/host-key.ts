// The server's identity: one ed25519 host key, generated on first start into the data dir and
// reused after, so `ssh` keeps recognising the server across restarts.
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import sshpk from 'sshpk'
import { fingerprintOf } from '../auth/keys.js'

const { utils } = ssh2

export interface HostKey {
  path: string
  /** OpenSSH private key text, as ssh2's Server wants it. */
  privateKey: string
  /** SHA256:… as `ssh` and `ssh-keygen -l` print it. */
  fingerprint: string
  /** "ssh-ed25519 AAAA…" for known_hosts. */
  publicKey: string
}

export function loadOrCreateHostKey(dataDir: string): HostKey {
  const path = join(dataDir, 'ssh_host_ed25519_key')
  if (!existsSync(path)) {
    // Written whole then renamed: a crash never leaves a half key that a restart would reject.
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, hostKeyText(), { mode: 0o600, flag: 'wx' })
    renameSync(tmp, path)
  }
  // A private key readable by others is no longer secret; tighten rather than serve it as-is.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
  const privateKey = readFileSync(path, 'utf8')
  const parsed = utils.parseKey(privateKey)
  if (parsed instanceof Error) throw new Error(`cannot read host key ${path}: ${parsed.message}`)
  if (parsed.type !== 'ssh-ed25519') throw new Error(`host key ${path} is ${parsed.type}, expected ssh-ed25519`)
  const blob = parsed.getPublicSSH()
  return { path, privateKey, fingerprint: fingerprintOf(blob), publicKey: `ssh-ed25519 ${blob.toString('base64')}` }
}

/**
 * A new ed25519 key in OpenSSH's private key format. Made with node:crypto and written by sshpk,
 * not ssh2's generateKeyPairSync: that one drops a leading zero byte of the public key (about one
 * key in 750), writing a file that no parser, ssh2's included, reads back.
 */
export function hostKeyText(key: KeyObject = generateKeyPairSync('ed25519').privateKey): string {
  const parsed = sshpk.parsePrivateKey(key.export({ type: 'pkcs8', format: 'pem' }) as string, 'pem')
  parsed.comment = 'boxd host key'
  return parsed.toString('openssh')
}
