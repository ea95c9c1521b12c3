// The interactive lobby over `ssh -tt` in a real pseudo-terminal, and the script mode over `ssh -T`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ptySsh, startSshFixture, type KeyFiles, type PtySession, type SshFixture } from '../helpers/ssh.js'

let fx: SshFixture
let alice: KeyFiles

beforeAll(async () => {
  fx = await startSshFixture()
  alice = fx.user('alice@example.com').key
})
afterAll(() => fx?.close())

const UP = '\x1b[A'
const open = async (): Promise<PtySession> => {
  const t = await ptySsh(fx.port, alice.path)
  await t.expect(/Welcome to boxd, alice@example\.com[\s\S]*boxd> $/)
  return t
}

describe('interactive lobby (ssh -tt)', () => {
  it('answers typed lines, keeps the session after an error, and leaves on exit', async () => {
    const t = await open()
    let m = t.mark()
    t.write('whoami\r')
    await t.expect(/alice@example\.com \(user\)[\s\S]*boxd> $/, { from: m })
    m = t.mark()
    t.write('nosuchverb\r')
    await t.expect(/error: unknown command "nosuchverb"[\s\S]*boxd> $/, { from: m })
    t.write('exit\r')
    expect(await t.exited).toBe(0)
  })

  it('history: up-arrow recalls the previous line', async () => {
    const t = await open()
    t.write('whoami --json\r')
    await t.expect(/"email":"alice@example\.com"[\s\S]*boxd> $/)
    const m = t.mark()
    t.write(`${UP}\r`)
    const after = await t.expect(/"email":"alice@example\.com"[\s\S]*boxd> $/, { from: m })
    expect(after).toContain('whoami --json')
    t.write('\x04')
    expect(await t.exited).toBe(0)
  })

  it('lines containing a token or a private key never enter history', async () => {
    const t = await open()
    t.write('whoami\r')
    await t.expect(/\(user\)[\s\S]*boxd> $/)
    let m = t.mark()
    t.write('token shorten boxd0.c2VjcmV0.c2VjcmV0\r')
    await t.expect(/error[\s\S]*boxd> $/, { from: m })
    m = t.mark()
    // Up-arrow skips the secret and brings back `whoami`.
    t.write(UP)
    await t.expect(/boxd> whoami$/, { from: m })
    expect(t.text().slice(m)).not.toContain('boxd0.')
    t.write('\x15exit\r') // Ctrl-U clears the recalled line first
    expect(await t.exited).toBe(0)
  })

  it('tab completes verb names', async () => {
    const t = await open()
    let m = t.mark()
    t.write('whoa\t')
    await t.expect(/whoami $/, { from: m })
    t.write('--json\r')
    await t.expect(/"email":"alice@example\.com"[\s\S]*boxd> $/, { from: m })
    m = t.mark()
    t.write('ssh-key l\t')
    await t.expect(/ssh-key list $/, { from: m })
    t.write('\r')
    await t.expect(/SHA256:[\s\S]*boxd> $/, { from: m })
    t.write('exit\r')
    expect(await t.exited).toBe(0)
  })

  it('Ctrl-C cancels the line, Ctrl-D leaves', async () => {
    const t = await open()
    const m = t.mark()
    t.write('nosuchverb-typed')
    await t.expect(/nosuchverb-typed$/, { from: m })
    t.write('\x03')
    await t.expect(/\^C\s*boxd> $/, { from: m })
    t.write('\r')
    await new Promise((r) => setTimeout(r, 200))
    expect(t.text().slice(m)).not.toContain('unknown command')
    t.write('\x04')
    expect(await t.exited).toBe(0)
  })

  it('window-change is taken: the line editor redraws when a line outgrows the new width', async () => {
    const t = await open()
    const typeLong = async () => {
      const at = t.raw().length
      // 20 keys at once (no wrap yet at 30 columns: prompt 6 + 20), then one key at a time across
      // the edge: a chunk that arrives whole is echoed without a redraw, single keys are not.
      t.write('x'.repeat(20))
      await t.expect(/x{20}$/)
      for (let i = 0; i < 15; i++) {
        t.write('x')
        await new Promise((r) => setTimeout(r, 25))
      }
      await new Promise((r) => setTimeout(r, 200))
      const typed = t.raw().slice(at)
      t.write('\x15') // Ctrl-U
      await new Promise((r) => setTimeout(r, 100))
      return typed
    }
    // 100 columns: 35 characters fit, readline just echoes them.
    expect(await typeLong()).not.toContain('\x1b[0J')
    t.resize(30, 20)
    await new Promise((r) => setTimeout(r, 200))
    // 30 columns: crossing the edge makes readline redraw (clear-down) — it knows the new width.
    expect(await typeLong()).toContain('\x1b[0J')
    t.write('exit\r')
    expect(await t.exited).toBe(0)
  })
})

describe('lobby without a pty (ssh -T host < script)', () => {
  it('runs each line as a command; errors print and the script goes on', async () => {
    const r = await fx.ssh(alice, [], { args: ['-T'], input: 'whoami --json\n# a comment\n\nnosuchverb\nssh-key list --json\n' })
    const lines = r.stdout.trim().split('\n')
    expect(JSON.parse(lines[0]).email).toBe('alice@example.com')
    expect(JSON.parse(lines[1]).keys ?? JSON.parse(lines[1])).toBeTruthy()
    expect(r.stderr).toMatch(/error: unknown command "nosuchverb"/)
    expect(r.stdout).not.toContain('boxd> ')
    expect(r.code).toBe(0) // the last command's status, as sh would
  })

  it('exits with the last command\'s status', async () => {
    const r = await fx.ssh(alice, [], { args: ['-T'], input: 'whoami\nnosuchverb\n' })
    expect(r.code).toBe(5)
  })
})

describe('lobby limits', () => {
  it('an endless unterminated line closes the session instead of growing memory', async () => {
    const r = await fx.ssh(alice, [], { args: ['-T'], input: 'x'.repeat(100 * 1024) })
    expect(r.stderr).toMatch(/line longer than 64 KiB/)
  })
})
