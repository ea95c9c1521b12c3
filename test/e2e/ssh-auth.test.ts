// Authentication and hardening with the real OpenSSH client (and ssh2's client where OpenSSH
// cannot be made to misbehave): key types, refusals, attempt caps, grace time, admission.
import { connect, type Socket } from 'node:net'
import ssh2 from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSsh, startSshFixture, waitFor, type KeyFiles, type SshFixture } from '../helpers/ssh.js'

let fx: SshFixture
let alice: KeyFiles

beforeAll(async () => {
  fx = await startSshFixture()
  alice = fx.user('alice@example.com').key
})
afterAll(() => fx?.close())

const DENIED = /Permission denied \(publickey\)/

describe('ssh key types', () => {
  it.each([
    ['ed25519', []],
    ['ecdsa', []],
    ['rsa', []],
    ['rsa', ['-o', 'PubkeyAcceptedAlgorithms=rsa-sha2-256']],
    // rsa-sha2-512 is accepted (test/ssh/auth.test.ts), but OpenSSH never picks it against ssh2 1.17:
    // ssh2's server-sig-algs lacks a comma ("…nistp521rsa-sha2-512", mscdex/ssh2#1485), so the
    // client falls back to rsa-sha2-256.
  ] as const)('%s key %j logs in', async (type, args) => {
    const { key } = fx.user(`${type}-${args.join('').length}-${Math.random().toString(36).slice(2, 8)}@example.com`, { type })
    const r = await fx.ssh(key, 'whoami --json', { args: [...args] })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).ssh_keys[0].fingerprint).toBe(key.fingerprint)
  })

  it('SHA-1 ssh-rsa signature refused (OpenSSH forced to ssh-rsa)', async () => {
    const { key } = fx.user('legacy@example.com', { type: 'rsa' })
    const r = await fx.ssh(key, 'whoami', { args: ['-o', 'PubkeyAcceptedAlgorithms=ssh-rsa'] })
    expect(r.code).toBe(255)
    expect(r.stderr).toMatch(DENIED)
    // The very same key is fine with a SHA-2 signature: the refusal is about the hash alone.
    expect((await fx.ssh(key, 'whoami', { args: ['-o', 'PubkeyAcceptedAlgorithms=rsa-sha2-256'] })).code).toBe(0)
  })
})

describe('ssh refusals', () => {
  it('unknown key refused', async () => {
    const r = await fx.ssh(fx.key(), 'whoami')
    expect(r.code).toBe(255)
    expect(r.stderr).toMatch(DENIED)
    expect(r.stdout).toBe('')
  })

  it('disabled user refused', async () => {
    const { user, key } = fx.user('bob@example.com')
    expect((await fx.ssh(key, 'whoami')).code).toBe(0)
    fx.app.services.store.db.prepare("UPDATE users SET status = 'disabled' WHERE id = ?").run(user.id)
    const r = await fx.ssh(key, 'whoami')
    expect(r.code).toBe(255)
    expect(r.stderr).toMatch(DENIED)
  })

  it('a removed key is refused at once', async () => {
    const { key } = fx.user('carol@example.com')
    const spare = fx.key()
    expect((await fx.ssh(key, 'ssh-key add --name=spare', { input: spare.publicKey })).code).toBe(0)
    expect((await fx.ssh(spare, `ssh-key remove ${key.fingerprint}`)).code).toBe(0)
    expect((await fx.ssh(key, 'whoami')).code).toBe(255)
  })

  it('password and keyboard-interactive are refused (ssh2 client)', async () => {
    for (const cfg of [{ password: 'hunter2' }, { tryKeyboard: true }]) {
      const err = await new Promise<Error>((resolveP, reject) => {
        const c = new ssh2.Client()
        const t = setTimeout(() => { c.end(); reject(new Error('no answer')) }, 8000)
        c.on('ready', () => { clearTimeout(t); c.end(); reject(new Error('logged in without a key')) })
        c.on('error', (e) => { clearTimeout(t); resolveP(e) })
        c.connect({ host: '127.0.0.1', port: fx.port, username: 'alice', readyTimeout: 8000, ...cfg })
      })
      expect(err.message).toMatch(/All configured authentication methods failed/)
    }
  })

  it('knowing a registered public key without its private key gets nowhere (probe OK, forged signature)', async () => {
    // An "agent" that offers alice's public key and signs with garbage.
    const pub = ssh2.utils.parseKey(alice.publicKey) as ssh2.ParsedKey
    class ForgingAgent extends ssh2.BaseAgent {
      getIdentities(cb: (err: Error | undefined, keys?: ssh2.ParsedKey[]) => void) { cb(undefined, [pub]) }
      sign(_k: ssh2.ParsedKey, _d: Buffer, _o: unknown, cb?: (err: Error | undefined, sig?: Buffer) => void) { cb?.(undefined, Buffer.alloc(64, 7)) }
    }
    const outcome = await new Promise<string>((resolveP) => {
      const c = new ssh2.Client()
      const t = setTimeout(() => { c.end(); resolveP('timeout') }, 8000)
      c.on('ready', () => { clearTimeout(t); c.end(); resolveP('ready') })
      c.on('error', (e) => { clearTimeout(t); resolveP(e.message) })
      c.connect({ host: '127.0.0.1', port: fx.port, username: 'boxd', agent: new ForgingAgent(), readyTimeout: 8000 })
    })
    expect(outcome).toMatch(/All configured authentication methods failed/)
  })

  it('key enumeration is capped at 6 failures per connection: a 7th (valid) key never gets its turn', async () => {
    const bad = Array.from({ length: 6 }, () => fx.key())
    // The client offers the -i keys in order; the first comes from runSsh's own -i.
    const offer = (keys: KeyFiles[]) => runSsh(fx.port, keys[0].path, ['whoami'], { args: keys.slice(1).flatMap((k) => ['-i', k.path]) })
    expect((await offer([...bad.slice(0, 5), alice])).code).toBe(0)
    const r = await offer([...bad, alice])
    expect(r.code).toBe(255)
    expect(r.stdout).toBe('')
  })
})

describe('ssh admission', () => {
  let small: SshFixture
  let key: KeyFiles
  beforeAll(async () => {
    small = await startSshFixture({ config: { sshLimits: { maxUnauthenticated: 10, loginGraceMs: 1500 } } })
    key = small.user('dave@example.com').key
  })
  afterAll(() => small?.close())

  const park = (n: number) => Promise.all(Array.from({ length: n }, () => new Promise<Socket>((resolveP, reject) => {
    const s = connect(small.port, '127.0.0.1', () => resolveP(s))
    s.resume() // read the server's banner, so a close from the server is seen
    s.on('error', () => {})
    s.once('error', reject)
  })))

  it('50 unauthenticated connections do not block a real user', async () => {
    const parked = await park(50)
    try {
      await waitFor(() => small.door.connections().unauthenticated <= 10, 'the cap to hold')
      const r = await small.ssh(key, 'whoami --json')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).email).toBe('dave@example.com')
      // The cap held: the oldest parked connections were dropped early.
      await waitFor(() => parked.filter((s) => s.closed).length >= 40, 'the oldest parked connections to be dropped')
    } finally {
      for (const s of parked) s.destroy()
    }
  })

  it('an unauthenticated connection is dropped after the login grace time', async () => {
    const [s] = await park(1)
    const closedAt = await new Promise<number>((resolveP) => {
      const t0 = Date.now()
      const t = setTimeout(() => resolveP(-1), 6000)
      s.once('close', () => { clearTimeout(t); resolveP(Date.now() - t0) })
    })
    expect(closedAt).toBeGreaterThan(1000)
    expect(closedAt).toBeLessThan(4000)
  })

  it('an authenticated session outlives the login grace time', async () => {
    const r = await small.ssh(key, 'whoami', { args: ['-o', 'ProxyCommand=none'], timeoutMs: 10_000 })
    expect(r.code).toBe(0)
    const c = new ssh2.Client()
    const { readFileSync } = await import('node:fs')
    await new Promise<void>((resolveP, reject) => {
      c.on('ready', () => resolveP())
      c.on('error', reject)
      c.connect({ host: '127.0.0.1', port: small.port, username: 'boxd', privateKey: readFileSync(key.path) })
    })
    await new Promise((r) => setTimeout(r, 2000))
    const out = await new Promise<string>((resolveP, reject) => c.exec('whoami', (err, ch) => {
      if (err) return reject(err)
      let o = ''
      ch.on('data', (d: Buffer) => (o += d)).on('close', () => resolveP(o))
    }))
    c.end()
    expect(out).toMatch(/dave@example\.com/)
  })
})

describe('ssh host key', () => {
  it('is ed25519, kept in the data dir with mode 0600, same fingerprint after a restart', async () => {
    const { statSync } = await import('node:fs')
    const { join } = await import('node:path')
    const st = statSync(join(fx.dir, 'ssh_host_ed25519_key'))
    expect(st.mode & 0o777).toBe(0o600)
    const { startSshServer } = await import('../../src/ssh/server.js')
    const again = await startSshServer(fx.app)
    try {
      expect(again.hostKeyFingerprint).toBe(fx.door.hostKeyFingerprint)
      expect(again.banner.join('\n')).toContain(fx.door.hostKeyFingerprint)
      // And it is what the client sees.
      const { execFile, execFileSync } = await import('node:child_process')
      // Async: the server runs in this process and must answer while the scan waits.
      const scanned = await new Promise<string>((resolveP, reject) => execFile('ssh-keyscan', ['-p', String(again.port), '-t', 'ed25519', '127.0.0.1'], { encoding: 'utf8', timeout: 8000 }, (e, out) => (e ? reject(e) : resolveP(out))))
      const { writeFileSync } = await import('node:fs')
      const f = join(fx.dir, 'scanned')
      writeFileSync(f, scanned)
      expect(execFileSync('ssh-keygen', ['-l', '-f', f], { encoding: 'utf8' })).toContain(fx.door.hostKeyFingerprint)
    } finally {
      await again.close()
    }
  })
})

