// `ssh host <verb…>` with the real OpenSSH client: output, exit statuses, stderr, stdin, quoting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { Dispatcher } from '../../src/registry/dispatch.js'
import { Registry } from '../../src/registry/registry.js'
import { defineCommand } from '../../src/registry/types.js'
import { startSshFixture, type KeyFiles, type SshFixture } from '../helpers/ssh.js'

let fx: SshFixture
let alice: KeyFiles

beforeAll(async () => {
  fx = await startSshFixture()
  alice = fx.user('alice@example.com', { role: 'admin' }).key
})
afterAll(() => fx?.close())

describe('ssh exec', () => {
  it('whoami --json prints the account as JSON on stdout, exit 0', async () => {
    const r = await fx.ssh(alice, 'whoami --json')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const body = JSON.parse(r.stdout)
    expect(body).toMatchObject({ email: 'alice@example.com', role: 'admin', ssh_keys: [{ fingerprint: alice.fingerprint, current: true }] })
  })

  it('human output by default', async () => {
    const r = await fx.ssh(alice, 'whoami')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^alice@example\.com \(admin\)\n/)
  })

  it('words given separately are joined like ssh does', async () => {
    const r = await fx.ssh(alice, ['whoami', '--json'])
    expect(JSON.parse(r.stdout).email).toBe('alice@example.com')
  })

  it.each([
    ['nosuchverb', 5, /^error: unknown command "nosuchverb"/],
    ['whoami --bogus', 2, /^error: unknown flag --bogus/],
    ["whoami 'unbalanced", 2, /^error: unbalanced single quote/],
    ['ssh-key rename nope other', 6, /^error: no key "nope"/],
  ])('%j → exit %i with the error on stderr only', async (line, code, re) => {
    const r = await fx.ssh(alice, line)
    expect(r.code).toBe(code)
    expect(r.stderr).toMatch(re)
    expect(r.stdout).toBe('')
  })

  it('with --json an error is also a JSON object on stdout', async () => {
    const r = await fx.ssh(alice, 'ssh-key rename nope other --json')
    expect(r.code).toBe(6)
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 'not_found' })
  })

  it('cat key.pub | ssh host ssh-key add (stdin piping)', async () => {
    const extra = fx.key('ed25519')
    const r = await fx.ssh(alice, 'ssh-key add --name=piped --json', { input: `${extra.publicKey}\n` })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'piped', fingerprint: extra.fingerprint })
    // …and the new key logs in at once.
    const who = await fx.ssh(extra, 'whoami --json')
    expect(JSON.parse(who.stdout)).toMatchObject({ email: 'alice@example.com' })
  })

  it('stdin over 64 KiB → payload_too_large (exit 2)', async () => {
    const r = await fx.ssh(alice, 'ssh-key add', { input: 'x'.repeat(70 * 1024) })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/stdin is larger than 64 KiB/)
  })

  it('a verb that does not read stdin does not wait for it (stdin left open)', async () => {
    const { spawn } = await import('node:child_process')
    const { sshArgs } = await import('../helpers/ssh.js')
    const child = spawn('ssh', [...sshArgs(fx.port, alice.path), 'boxd@127.0.0.1', 'whoami --json'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    const code = await new Promise<number | null>((r, j) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); j(new Error('ssh waited for stdin')) }, 8000)
      child.on('close', (c) => { clearTimeout(t); r(c) })
    })
    expect(code).toBe(0)
    expect(JSON.parse(out).email).toBe('alice@example.com')
  })

  it('quoted arguments arrive as one word (same tokenizer as HTTP)', async () => {
    const extra = fx.key('ed25519')
    // The key line has spaces: quoted, it is one argument; the name is glued from quoted pieces.
    const r = await fx.ssh(alice, `ssh-key add "${extra.publicKey}" --name='quo'"ted"\\-ok --json`)
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'quoted-ok', fingerprint: extra.fingerprint })
  })

  it('$(…) and backticks are literal text, never expanded', async () => {
    const r = await fx.ssh(alice, 'ssh-key rename "$(id)" new-name')
    expect(r.code).toBe(6)
    expect(r.stderr).toContain('no key "$(id)"')
  })

  it('records last_used_at on the key that logged in', async () => {
    const before = fx.app.services.store.keys.findActive(alice.fingerprint)!
    expect(before.last_used_at).not.toBeNull()
  })

  it('exec with a pty (-t) writes CRLF line ends', async () => {
    const r = await fx.ssh(alice, 'whoami', { args: ['-tt'] })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/alice@example\.com \(admin\)\r\n/)
  })
})

describe('progress from long verbs', () => {
  let px: SshFixture
  let key: KeyFiles
  beforeAll(async () => {
    px = await startSshFixture()
    key = px.user('prog@example.com').key
    // A verb that reports progress, added to a copy of the real registry.
    const slow = defineCommand({
      name: 'progress-demo', summary: 'test', usage: 'progress-demo', examples: ['progress-demo'], mutates: false,
      run(_i, ctx) {
        ctx.progress('step 1 of 2')
        ctx.progress('step 2 of 2')
        return { ok: true }
      },
      human: () => 'done',
    })
    px.app.registry = new Registry([...commands, slow])
    px.app.dispatcher = new Dispatcher(px.app.registry, px.app.services)
  })
  afterAll(() => px?.close())

  it('without a TTY: plain lines on stderr, result on stdout', async () => {
    const r = await px.ssh(key, 'progress-demo')
    expect(r.stderr).toBe('step 1 of 2\nstep 2 of 2\n')
    expect(r.stdout).toBe('done\n')
  })

  it('with --json: no progress anywhere, stdout is only the JSON', async () => {
    const r = await px.ssh(key, 'progress-demo --json')
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ ok: true })
  })

  it('on a TTY: one live line redrawn in place, the last one kept above the result', async () => {
    const r = await px.ssh(key, 'progress-demo', { args: ['-tt'] })
    expect(r.stdout).toBe('\r\x1b[Kstep 1 of 2\r\x1b[Kstep 2 of 2\r\ndone\r\n')
  })
})

describe('rate limits reach ssh through the dispatcher', () => {
  it('over the per-minute quota → exit 8 with the limiter\'s message', async () => {
    const rx = await startSshFixture({ config: { rateLimits: { perMinute: 2, mutatingPerMinute: 0, perHour: 0 } } })
    try {
      const { key } = rx.user('busy@example.com')
      expect((await rx.ssh(key, 'whoami')).code).toBe(0)
      expect((await rx.ssh(key, 'whoami')).code).toBe(0)
      const r = await rx.ssh(key, 'whoami')
      expect(r.code).toBe(8)
      expect(r.stderr).toMatch(/^error: rate limit/)
    } finally {
      await rx.close()
    }
  })
})
