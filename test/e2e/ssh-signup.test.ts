// Getting an account over SSH: the first-run bootstrap code, --admin-key/--admin-email, open signup.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeKey, ptySsh, startSshFixture, type SshFixture } from '../helpers/ssh.js'

let fx: SshFixture | undefined
afterEach(async () => {
  await fx?.close()
  fx = undefined
})

const codeFile = (f: SshFixture) => join(f.dir, 'bootstrap_code')

describe('first run: bootstrap code', () => {
  it('is printed, stored 0600, and turns the first key that types it into the admin; then it is void', async () => {
    fx = await startSshFixture()
    const code = readFileSync(codeFile(fx), 'utf8').trim()
    expect(statSync(codeFile(fx)).mode & 0o777).toBe(0o600)
    expect(fx.door.banner.join('\n')).toContain(code)
    const me = fx.key()

    // exec cannot enroll: it says what to do instead.
    const early = await fx.ssh(me, 'whoami')
    expect(early.code).toBe(3)
    expect(early.stderr).toMatch(/no account here yet[\s\S]*ssh -p \d+ localhost.*bootstrap code/)

    const r = await fx.ssh(me, [], { args: ['-T'], input: `${code}\nroot@example.com\nwhoami --json\n` })
    expect(r.stdout).toContain('Account created: root@example.com (admin)')
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ email: 'root@example.com', role: 'admin' })

    // Void: the file is gone, and a second unknown key is not even let in (signup is closed).
    expect(existsSync(codeFile(fx))).toBe(false)
    const late = await fx.ssh(fx.key(), [], { args: ['-T'], input: `${code}\nevil@example.com\n` })
    expect(late.code).toBe(255)
    expect(late.stderr).toMatch(/Permission denied \(publickey\)/)
    // The admin now gets in like anyone else.
    expect((await fx.ssh(me, 'whoami --json')).stdout).toContain('"role":"admin"')
  })

  it('three wrong codes end the session and create nothing', async () => {
    fx = await startSshFixture()
    const r = await fx.ssh(fx.key(), [], { args: ['-T'], input: 'nope\nnope-again\nstill-not\nroot@example.com\n' })
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(/that is not the code/)
    expect(fx.app.services.store.users.count()).toBe(0)
    expect(existsSync(codeFile(fx))).toBe(true)
  })

  it('the same code is kept across restarts until used', async () => {
    fx = await startSshFixture()
    const code = readFileSync(codeFile(fx), 'utf8').trim()
    const { startSshServer } = await import('../../src/ssh/server.js')
    const again = await startSshServer(fx.app)
    await again.close()
    expect(readFileSync(codeFile(fx), 'utf8').trim()).toBe(code)
  })

  it('interactive (ssh -tt): asks for the code and an email, then opens the lobby; the code is not in history', async () => {
    fx = await startSshFixture()
    const code = readFileSync(codeFile(fx), 'utf8').trim()
    const me = fx.key()
    const t = await ptySsh(fx.port, me.path)
    await t.expect(/bootstrap code: $/)
    t.write(`${code}\r`)
    await t.expect(/email: $/)
    t.write('root@example.com\r')
    await t.expect(/Account created[\s\S]*Welcome to boxd, root@example\.com[\s\S]*boxd> $/)
    const m = t.mark()
    t.write('\x1b[A') // up-arrow: the email may come back, the code must not
    await new Promise((r) => setTimeout(r, 300))
    expect(t.text().slice(m)).not.toContain(code)
    t.write('\x15whoami\r')
    await t.expect(/root@example\.com \(admin\)/, { from: m })
    t.write('exit\r')
    expect(await t.exited).toBe(0)
  })
})

describe('--admin-key / --admin-email', () => {
  it('creates the admin at start, no bootstrap code; idempotent across restarts', async () => {
    const key = makeKey(mkdtempSync(join(tmpdir(), 'boxd-admin-key-')))
    fx = await startSshFixture({ config: { adminKey: key.pub, adminEmail: 'ops@example.com' } })
    expect(fx.door.banner.join('\n')).toMatch(/admin ops@example\.com created/)
    expect(existsSync(codeFile(fx))).toBe(false)
    const r = await fx.ssh(key, 'whoami --json')
    expect(JSON.parse(r.stdout)).toMatchObject({ email: 'ops@example.com', role: 'admin' })
    const { startSshServer } = await import('../../src/ssh/server.js')
    const again = await startSshServer(fx.app)
    expect(again.banner.join('\n')).toMatch(/admin ops@example\.com has key/)
    await again.close()
    expect(fx.app.services.store.users.count()).toBe(1)
  })
})

describe('--signup open', () => {
  it('an unknown key signs up in the lobby with an email; exec before that says how', async () => {
    fx = await startSshFixture({ config: { signup: 'open' } })
    fx.user('admin@example.com', { role: 'admin' })
    const me = fx.key()
    const early = await fx.ssh(me, 'whoami')
    expect(early.code).toBe(3)
    expect(early.stderr).toMatch(/run `ssh -p \d+ localhost` \(interactive\) once to sign up/)

    const r = await fx.ssh(me, [], { args: ['-T'], input: 'not-an-email\nadmin@example.com\nbob@example.com\nwhoami --json\n' })
    expect(r.stdout).toMatch(/is not an email address/)
    expect(r.stdout).toMatch(/already exists/)
    expect(r.stdout).toContain('Account created: bob@example.com (user)')
    expect((await fx.ssh(me, 'whoami --json')).stdout).toContain('"email":"bob@example.com"')
  })

  it('closed (the default): an unknown key is refused at authentication', async () => {
    fx = await startSshFixture()
    fx.user('admin@example.com', { role: 'admin' })
    const r = await fx.ssh(fx.key(), [], { args: ['-T'], input: 'bob@example.com\n' })
    expect(r.code).toBe(255)
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/)
  })
})
