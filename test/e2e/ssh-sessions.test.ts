// What a session may and may not do: forwarding/X11/agent/subsystems refused with a message, the
// per-connection channel cap, the machine-session seam (ssh NAME@host), idle timeout, shutdown.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MachineSessionRequest, MachineSessions } from '../../src/ssh/machine-sessions.js'
import { ptySsh, startSshFixture, waitFor, type KeyFiles, type SshFixture } from '../helpers/ssh.js'

let fx: SshFixture
let alice: KeyFiles
let bob: KeyFiles
const opened: MachineSessionRequest[] = []

beforeAll(async () => {
  fx = await startSshFixture({ config: { sshLimits: { maxChannelsPerConnection: 2 } } })
  alice = fx.user('alice@example.com').key
  bob = fx.user('bob@example.com').key
  // A stand-in for the machines issue: alice owns "web".
  const machines: MachineSessions = {
    names: (p) => (p.user.email === 'alice@example.com' ? ['web'] : []),
    async open(req, io) {
      opened.push(req)
      io.stdout.write(`in ${req.machine}: ${req.command ?? '<shell>'} pty=${Boolean(req.pty)}\n`)
      return 42
    },
  }
  fx.app.machineSessions = machines
})
afterAll(() => fx?.close())

function client(key: KeyFiles, username = 'boxd'): Promise<ssh2.Client> {
  return new Promise((resolveP, reject) => {
    const c = new ssh2.Client()
    c.on('ready', () => resolveP(c)).on('error', reject)
    c.connect({ host: '127.0.0.1', port: fx.port, username, privateKey: readFileSync(key.path), readyTimeout: 8000 })
  })
}

describe('refused with a message, never a hang', () => {
  it('local port forwarding (direct-tcpip) is administratively prohibited', async () => {
    const c = await client(alice)
    const err = await new Promise<(Error & { reason?: number }) | undefined>((r) => c.forwardOut('127.0.0.1', 1234, '127.0.0.1', 22, (e) => r(e)))
    c.end()
    // RFC 4254 reason 1, which OpenSSH prints as "open failed: administratively prohibited".
    expect(err?.reason).toBe(1)
  })

  it('remote port forwarding (ssh -R) fails and the client says so', async () => {
    const r = await fx.ssh(alice, 'whoami', { args: ['-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9'] })
    expect(r.code).toBe(255)
    expect(r.stderr).toMatch(/remote port forwarding failed/i)
  })

  it('X11 forwarding is refused', async () => {
    const c = await client(alice)
    const err = await new Promise<Error | undefined>((r) => c.exec('whoami', { x11: true }, (e, ch) => { ch?.close(); r(e) }))
    c.end()
    expect(err?.message).toMatch(/X11/i)
  })

  it('agent forwarding is refused, and the lobby says so', async () => {
    // OpenSSH asks for agent forwarding only when an agent is really there.
    const sock = join(fx.dir, 'agent.sock')
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' })
    try {
      await waitFor(() => existsSync(sock), 'ssh-agent socket')
      const t = await ptySsh(fx.port, alice.path, { args: ['-tt', '-o', 'ForwardAgent=yes'], env: { SSH_AUTH_SOCK: sock } })
      await t.expect(/agent forwarding is not offered[\s\S]*boxd> $/)
      t.write('exit\r')
      expect(await t.exited).toBe(0)
    } finally {
      agent.kill()
    }
  })

  it('subsystems (sftp) are refused with a message and exit 1', async () => {
    const r = await fx.ssh(alice, ['sftp'], { args: ['-s'] })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/"sftp" subsystem is not offered by the lobby/)
  })
})

describe('per-connection channel cap', () => {
  it('a third concurrent session on one connection is refused (cap 2)', async () => {
    const c = await client(alice)
    const shell = () => new Promise<ssh2.ClientChannel>((r, j) => c.shell(false, (e, ch) => (e ? j(e) : r(ch))))
    const a = await shell()
    const b = await shell()
    const third = await shell().then(() => 'opened', (e: Error) => e.message)
    expect(third).toMatch(/open failure|Channel open/i)
    a.end('exit\n')
    b.end('exit\n')
    c.end()
  })
})

describe('machine sessions seam (ssh NAME@host)', () => {
  it('exec on one of my machines goes to the machine handler with its exit status', async () => {
    const r = await fx.ssh(alice, 'uname -a', { user: 'web' })
    expect(r.stdout).toBe('in web: uname -a pty=false\n')
    expect(r.code).toBe(42)
    expect(opened.at(-1)).toMatchObject({ machine: 'web', command: 'uname -a', principal: { user: { email: 'alice@example.com' } } })
  })

  it('a shell with a pty goes to the handler as a shell', async () => {
    const r = await fx.ssh(alice, [], { user: 'web', args: ['-tt'] })
    expect(r.stdout).toContain('in web: <shell> pty=true')
    expect(r.code).toBe(42)
  })

  it('someone else\'s machine name is just the lobby', async () => {
    const r = await fx.ssh(bob, 'whoami --json', { user: 'web' })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).email).toBe('bob@example.com')
  })

  it.each(['boxd', 'root', 'no-such-machine'])('username %j is the lobby', async (user) => {
    const r = await fx.ssh(alice, 'whoami --json', { user })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).email).toBe('alice@example.com')
  })
})

describe('lifetimes', () => {
  it('an idle lobby is closed after the idle timeout', async () => {
    const small = await startSshFixture({ config: { sshLimits: { idleTimeoutMs: 600 } } })
    try {
      const key = small.user('idle@example.com').key
      const t = await ptySsh(small.port, key.path)
      await t.expect(/boxd> $/)
      await t.expect(/idle for \d+ min: closing the session/, { timeoutMs: 5000 })
      expect(await t.exited).toBe(0)
    } finally {
      await small.close()
    }
  })

  it('shutdown tells interactive sessions, closes them, and finishes promptly', async () => {
    const own = await startSshFixture()
    const key = own.user('bye@example.com').key
    const t = await ptySsh(own.port, key.path)
    await t.expect(/boxd> $/)
    const t0 = Date.now()
    await own.close()
    expect(Date.now() - t0).toBeLessThan(4000)
    await t.expect(/the server is shutting down/)
    await t.exited
  })
})
