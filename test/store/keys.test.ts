// SshKeys.listForUser is served from memory while boxd.db is unchanged (Store.generation):
// whoami and `ssh-key list` must still show every change on the very next call.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Store } from '../../src/store/index.js'

let dir: string
let store: Store
const now = new Date('2026-11-23T12:00:00.000Z')
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'boxd-keys-'))
  store = Store.open(join(dir, 'boxd.db'))
  store.db.prepare("INSERT INTO users (id, email, role, created_at) VALUES ('u1', 'a@b.c', 'user', 'now')").run()
  store.keys.insert({ userId: 'u1', name: 'laptop', publicKey: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:one' }, now)
})
afterEach(() => {
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

const names = () => store.keys.listForUser('u1').map((k) => k.name)

describe('the key list cache', () => {
  it('a key removed by another process disappears from the list on the next call', () => {
    expect(names()).toEqual(['laptop'])
    expect(names()).toEqual(['laptop']) // from memory now
    const other = new Database(join(dir, 'boxd.db'))
    other.prepare("UPDATE ssh_keys SET removed_at = 'x' WHERE fingerprint = 'SHA256:one'").run()
    other.close()
    expect(names()).toEqual([])
  })

  it('keys added, renamed or removed by this process show on the next call', () => {
    expect(names()).toEqual(['laptop'])
    const k = store.keys.insert({ userId: 'u1', name: 'desk', publicKey: 'ssh-ed25519 BBBB', fingerprint: 'SHA256:two' }, now)
    expect(names()).toEqual(['laptop', 'desk'])
    store.keys.rename(k.id, 'desktop')
    expect(names()).toEqual(['laptop', 'desktop'])
    store.keys.markRemoved(k.id, now)
    expect(names()).toEqual(['laptop'])
  })

  it('a key added by a transaction that rolled back is never listed', () => {
    expect(names()).toEqual(['laptop'])
    expect(() => store.tx(() => {
      store.keys.insert({ userId: 'u1', name: 'doomed', publicKey: 'ssh-ed25519 CCCC', fingerprint: 'SHA256:three' }, now)
      expect(names()).toEqual(['laptop', 'doomed'])
      throw new Error('rolled back')
    })).toThrow('rolled back')
    expect(names()).toEqual(['laptop'])
  })

  it('a caller that edits a listed row edits its own copy', () => {
    store.keys.listForUser('u1')[0].name = 'changed'
    expect(names()).toEqual(['laptop'])
    store.keys.listForUser('u1')[0].name = 'changed'
    expect(names()).toEqual(['laptop'])
  })
})
