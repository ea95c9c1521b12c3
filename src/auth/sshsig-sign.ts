// Making SSHSIG signatures on the client side (`boxd token mint`, `boxd exec`): with a key file
// through the real `ssh-keygen -Y sign` (it handles every key format, passphrases and FIDO keys),
// or through ssh-agent for keys that live only there (a known gap of `ssh-keygen -Y sign`).
// The verifier is src/auth/sshsig.ts; nothing here runs on the server's request path.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { OpenSSHAgent as Agent, ParsedKey } from 'ssh2'
import { CommandError } from '../errors.js'
import { encodeSshSig, signedData } from './sshsig.js'

// What ssh-keygen uses by default; the verifier accepts sha256 and sha512.
const HASH = 'sha512'

/** Armored `-----BEGIN SSH SIGNATURE-----` text → the binary blob. */
export function dearmor(text: string): Buffer {
  const body = text.split(/\r?\n/).filter((l) => l && !l.startsWith('-----')).join('')
  return Buffer.from(body, 'base64')
}

/**
 * Signs with `ssh-keygen -Y sign -n NAMESPACE -f KEY` on a temp file. A file rather than a pipe,
 * and our own stdin and stderr handed through, because ssh-keygen asks for a key's passphrase on
 * stdin when it is a terminal: that is how the prompt reaches the user. `keyPath` may be a .pub
 * whose private half is in ssh-agent.
 */
export function signWithKeyFile(message: Buffer, keyPath: string, namespace: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-sign-'))
  const file = join(dir, 'payload')
  writeFileSync(file, message, { mode: 0o600 })
  const cleanup = () => rmSync(dir, { recursive: true, force: true })
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn('ssh-keygen', ['-q', '-Y', 'sign', '-n', namespace, '-f', keyPath, file], { stdio: ['inherit', 'ignore', 'inherit'] })
    child.on('error', (e: NodeJS.ErrnoException) => {
      cleanup()
      reject(new CommandError('failed', e.code === 'ENOENT' ? 'ssh-keygen not found' : `cannot run ssh-keygen: ${e.message}`, { hint: 'install OpenSSH (openssh-client), or use --agent' }))
    })
    child.on('close', (code) => {
      try {
        if (code !== 0) return reject(new CommandError('failed', `ssh-keygen could not sign with ${keyPath} (exit ${code})`))
        resolve(dearmor(readFileSync(`${file}.sig`, 'utf8')))
      } catch (e) {
        reject(e)
      } finally {
        cleanup()
      }
    })
  })
}

// ssh2 is CommonJS and large: loaded only when --agent is used.
async function openAgent(socketPath: string): Promise<Agent> {
  const { default: ssh2 } = await import('ssh2')
  return new ssh2.OpenSSHAgent(socketPath)
}

/** Keys the agent at `socketPath` holds. */
export async function agentKeys(socketPath: string): Promise<ParsedKey[]> {
  const agent = await openAgent(socketPath)
  return new Promise((resolve, reject) => {
    agent.getIdentities((err, keys) => {
      if (err) reject(new CommandError('failed', `cannot list the keys in ssh-agent (${socketPath}): ${err.message}`, { hint: 'is ssh-agent running, and SSH_AUTH_SOCK set?' }))
      // OpenSSHAgent hands back parsed keys (the PublicKeyEntry alternative is for custom agents).
      else resolve((keys ?? []) as ParsedKey[])
    })
  })
}

/**
 * Signs through ssh-agent with the key whose public blob is `publicKey` (default: the agent's
 * first key). ssh2 returns only the raw signature, so the SSH signature type is put back here:
 * for RSA it is rsa-sha2-512, which is what we ask the agent for.
 */
export async function signWithAgent(message: Buffer, namespace: string, o: { socketPath: string; publicKey?: Buffer }): Promise<Buffer> {
  const keys = await agentKeys(o.socketPath)
  const key = o.publicKey ? keys.find((k) => k.getPublicSSH().equals(o.publicKey!)) : keys[0]
  if (!key) {
    throw new CommandError('failed', o.publicKey ? 'that key is not in ssh-agent' : 'ssh-agent has no keys', { hint: 'add it with ssh-add' })
  }
  if (key.type.startsWith('sk-')) {
    // The agent protocol as ssh2 exposes it drops the FIDO flags and counter the signature needs.
    throw new CommandError('failed', 'security-key (sk-*) keys cannot sign through --agent here', { hint: 'use --key with the key file: ssh-keygen talks to the authenticator' })
  }
  const data = signedData(namespace, HASH, message)
  const agent = await openAgent(o.socketPath)
  const sig = await new Promise<Buffer>((resolve, reject) => {
    agent.sign(key, data, { hash: HASH }, (err, signature) => {
      if (err || !signature) reject(new CommandError('failed', `ssh-agent refused to sign: ${err?.message ?? 'no signature'}`))
      else resolve(signature)
    })
  })
  const sigType = key.type === 'ssh-rsa' ? 'rsa-sha2-512' : key.type
  return encodeSshSig(key.getPublicSSH(), namespace, HASH, sigType, sig)
}
