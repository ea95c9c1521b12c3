import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { addUser, makeApp, newPublicKey, run, type TestApp } from '../helpers/app.js'
import type { User } from '../../src/store/index.js'

let app: TestApp
let alice: User
let aliceKey: string
beforeEach(() => {
  app = makeApp()
  ;({ user: alice, key: aliceKey } = addUser(app, 'alice@example.com', 'admin'))
})
afterEach(() => app.cleanup())

const json = async (line: string, u = alice, extra = {}) => {
  const o = await run(app, u, `${line} --json`, extra)
  return { ...o, data: JSON.parse(o.stdout) }
}

describe('ssh-key add', () => {
  it('adds a key given as unquoted words; name defaults to the comment', async () => {
    const key = newPublicKey('laptop')
    const o = await json(`ssh-key add ${key}`)
    expect(o.exit).toBe(0)
    expect(o.data).toMatchObject({ name: 'laptop', public_key: key.split(' ').slice(0, 2).join(' ') })
    expect(o.data.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    expect(app.services.store.keys.listForUser(alice.id)).toHaveLength(2)
  })
  it('reads the key from stdin when no argument is given', async () => {
    const key = newPublicKey('piped')
    const o = await json('ssh-key add --name=ci', alice, { stdin: async () => Buffer.from(`${key}\n`) })
    expect(o.exit).toBe(0)
    expect(o.data.name).toBe('ci')
  })
  it('a key registered to anyone → conflict (7)', async () => {
    const bob = addUser(app, 'bob@example.com')
    const o = await run(app, alice, `ssh-key add ${bob.key}`)
    expect([o.exit, o.error?.code]).toEqual([7, 'conflict'])
    expect(app.services.store.keys.listForUser(alice.id)).toHaveLength(1)
  })
  it('duplicate name → conflict', async () => {
    const o = await run(app, alice, `ssh-key add ${newPublicKey('x')} --name alice@example.com`)
    expect(o.error?.code).toBe('conflict')
  })
  it.each([
    ['ssh-dss AAAAB3NzaC1kc3MAAACBAP', /DSA/],
    ['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCqtEst', /RSA|malformed/],
    ['ssh-ed25519 not-base64!', /not an SSH public key/],
    ['ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGyIJif767npeVBosV5oyNdPj5w9lwh5TqIcW4BI+P+8', /does not match/],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', /private key/],
  ])('malformed %j → usage', async (key, re) => {
    const o = await run(app, alice, `ssh-key add -- '${key}'`)
    expect(o.error?.code).toBe('usage')
    expect(o.error?.message).toMatch(re)
  })
  it('RSA under 2048 bits → usage', async () => {
    // a real 1024-bit ssh-rsa public key
    const k = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDDR3hBcJnOSzQ9fPd9iFkP3vtmV0m0tRz3y3b9bG6b0dD1u3z+8yN4i1QhV8t2mQ0qA6Gm4yN0wq7vE3JX6r0b7J8WmS0y6V3uY2N1o1Wm8q7g8l5yQ2V0mQ7P9H0J5c5Jg3Q9m2F3Zx0bQ6rD3R9n7c6e1k7qk5Q5uZk6c0m2VQ=='
    const o = await run(app, alice, `ssh-key add ${k}`)
    expect(o.error?.code).toBe('usage')
  })
  it('no key at all → usage with a hint', async () => {
    const o = await run(app, alice, 'ssh-key add')
    expect(o.error?.code).toBe('usage')
    expect(o.error?.hint).toMatch(/stdin/)
  })
})

describe('ssh-key list / rename / remove', () => {
  it('list pins the JSON fields', async () => {
    const o = await json('ssh-key list')
    expect(Object.keys(o.data)).toEqual(['ssh_keys'])
    expect(Object.keys(o.data.ssh_keys[0]).sort()).toEqual(['created_at', 'current', 'fingerprint', 'last_used_at', 'name', 'public_key'])
  })
  it('rename, then the old name is gone', async () => {
    expect((await json('ssh-key rename alice@example.com laptop')).data).toMatchObject({ name: 'laptop', old_name: 'alice@example.com' })
    expect((await json('ssh-key list')).data.ssh_keys.map((k: { name: string }) => k.name)).toEqual(['laptop'])
    expect((await run(app, alice, 'ssh-key rename nope x')).exit).toBe(6)
    expect((await run(app, alice, "ssh-key rename laptop 'bad name'")).exit).toBe(2)
  })
  it('removing your last key → conflict (would lock you out)', async () => {
    const o = await run(app, alice, 'ssh-key remove alice@example.com')
    expect([o.exit, o.error?.code]).toEqual([7, 'conflict'])
    expect(app.services.store.keys.listForUser(alice.id)).toHaveLength(1)
  })
  it('remove by name, fingerprint or public key', async () => {
    const k2 = newPublicKey('two'), k3 = newPublicKey('three')
    await run(app, alice, `ssh-key add ${k2}`)
    await run(app, alice, `ssh-key add ${k3}`)
    const fp = app.services.store.keys.listForUser(alice.id).find((k) => k.name === 'two')!.fingerprint
    expect((await run(app, alice, `ssh-key remove ${fp}`)).exit).toBe(0)
    expect((await run(app, alice, `ssh-key remove ${k3}`)).exit).toBe(0)
    expect(app.services.store.keys.listForUser(alice.id).map((k) => k.name)).toEqual(['alice@example.com'])
    // a removed key can be registered again (by anyone)
    const bob = addUser(app, 'bob@example.com').user
    expect((await run(app, bob, `ssh-key add ${k2}`)).exit).toBe(0)
  })
  it('attack: removing another user\'s key by fingerprint is not_found and changes nothing', async () => {
    const bob = addUser(app, 'bob@example.com')
    await run(app, bob.user, `ssh-key add ${newPublicKey('spare')}`)
    const bobFp = app.services.store.keys.listForUser(bob.user.id)[0].fingerprint
    await run(app, alice, `ssh-key add ${newPublicKey('spare')}`)
    const o = await run(app, alice, `ssh-key remove ${bobFp}`)
    expect(o.error?.code).toBe('not_found')
    expect(app.services.store.keys.findActive(bobFp)).toBeDefined()
  })
})

describe('whoami', () => {
  it('returns the account and marks the current key', async () => {
    const fp = app.services.store.keys.listForUser(alice.id)[0].fingerprint
    const o = await app.dispatcher.dispatch({ line: 'whoami --json', door: 'ssh', principal: { user: alice, via: 'ssh-key', keyFingerprint: fp } })
    const d = JSON.parse(o.stdout)
    expect(Object.keys(d)).toEqual(['email', 'role', 'user_id', 'ssh_keys'])
    expect(d).toMatchObject({ email: 'alice@example.com', role: 'admin', user_id: alice.id })
    expect(d.ssh_keys[0]).toMatchObject({ fingerprint: fp, current: true, public_key: aliceKey.split(' ').slice(0, 2).join(' ') })
  })
})
