import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { describe, expect, it } from 'vitest'
import { hostKeyText, loadOrCreateHostKey } from '../../src/ssh/host-key.js'

describe('host key', () => {
  it('a key whose public half starts with a zero byte still loads back (ssh2 keygen loses it)', () => {
    let key
    for (let i = 0; i < 20_000 && !key; i++) {
      const pair = generateKeyPairSync('ed25519')
      if (pair.publicKey.export({ type: 'spki', format: 'der' }).at(-32) === 0) key = pair.privateKey
    }
    expect(key).toBeDefined()
    const parsed = ssh2.utils.parseKey(hostKeyText(key))
    expect(parsed).not.toBeInstanceOf(Error)
    expect((parsed as ssh2.ParsedKey).getPublicSSH().length).toBe(4 + 11 + 4 + 32)
  })

  it('is created once with mode 0600 and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'boxd-hostkey-'))
    try {
      const a = loadOrCreateHostKey(dir)
      expect(statSync(a.path).mode & 0o777).toBe(0o600)
      const text = readFileSync(a.path, 'utf8')
      const b = loadOrCreateHostKey(dir)
      expect(b.fingerprint).toBe(a.fingerprint)
      expect(readFileSync(b.path, 'utf8')).toBe(text)
      expect(a.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
