// Issue 5 end to end through the real doors: `ssh host new`, `ssh web@host`, a file that survives
// stop/start and a server restart, rm — over the sandbox driver (root) and docker (when an engine
// answers), with the real OpenSSH client. One suite, two drivers.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../src/app.js'
import { createUser } from '../../src/auth/accounts.js'
import { startServer, type RunningServer } from '../../src/server.js'
import type { Config } from '../../src/services.js'
import { makeKey, runSsh, type KeyFiles } from '../helpers/ssh.js'

const repo = join(import.meta.dirname, '../..')

async function dockerSkip(): Promise<string | undefined> {
  try {
    await Promise.race([new Docker().ping(), new Promise((_, rej) => setTimeout(() => rej(new Error('ping timed out')), 3000))])
    execFileSync(join(repo, 'scripts/docker-test-image.sh'), { stdio: 'pipe' })
    return undefined
  } catch (e) {
    return `no usable Docker engine (${(e as Error).message.split('\n')[0]})`
  }
}

const drivers: { driver: Config['driver']; image?: string; skip?: string }[] = [
  { driver: 'sandbox', skip: process.getuid?.() === 0 ? undefined : 'the sandbox driver needs root' },
  { driver: 'docker', image: 'boxd-test:busybox', skip: await dockerSkip() },
]
for (const d of drivers) if (d.skip) console.log(`[machines e2e] skipping ${d.driver}: ${d.skip}`)

describe.each(drivers)('machines over ssh ($driver driver)', ({ driver, image, skip }) => {
  let dir: string
  let server: RunningServer | undefined
  let port = 0
  let alice: KeyFiles
  let bob: KeyFiles
  const config = () => resolveConfig({ dataDir: join(dir, 'data'), sshPort: 0, driver, defaultImage: image, maxMachines: 3, rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 } })
  const start = async () => {
    server = await startServer(config(), { log: pino({ level: 'silent' }) })
    port = (server.doors.find((d) => 'hostKeyFingerprint' in d) as unknown as { port: number }).port
  }
  const ssh = (key: KeyFiles, cmd: string, o: { user?: string; input?: string } = {}) => runSsh(port, key.path, [cmd], { user: o.user, input: o.input, timeoutMs: 60_000 })

  beforeAll(async () => {
    if (skip) return
    dir = mkdtempSync(join(tmpdir(), `boxd-e2e-machines-${driver}-`))
    await start()
    alice = makeKey(dir, 'ed25519', 'alice')
    bob = makeKey(dir, 'ed25519', 'bob')
    const { store, clock } = server!.app.services
    createUser(store, clock, { email: 'alice@example.com', role: 'user', keyText: alice.publicKey })
    createUser(store, clock, { email: 'bob@example.com', role: 'user', keyText: bob.publicKey })
  }, 120_000)
  afterAll(async () => {
    if (skip) return
    // Leave nothing behind: every machine removed through boxd, then the data dir.
    for (const m of server!.app.services.store.machines.all()) await server!.app.services.machines.remove(m).catch(() => {})
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  }, 120_000)

  it.skipIf(Boolean(skip))('new --json returns a running machine and its ssh command', async () => {
    const r = await ssh(alice, 'new --name=web --json')
    expect(r.code, r.stderr).toBe(0)
    const m = JSON.parse(r.stdout)
    expect(m).toMatchObject({ name: 'web', status: 'running', driver, ssh_dest: 'web@boxd.localhost', ssh_command: `ssh -p ${port} web@boxd.localhost` })
  })

  it.skipIf(Boolean(skip))('ssh web@host runs commands inside: hostname, separate stdout/stderr, stdin, exit status', async () => {
    const r = await ssh(alice, 'hostname; echo out; echo err >&2; cat; exit 5', { user: 'web', input: 'from-stdin\n' })
    expect(r.code).toBe(5)
    expect(r.stdout).toBe('web\nout\nfrom-stdin\n')
    expect(r.stderr).toBe('err\n')
  })

  it.skipIf(Boolean(skip))('the machine does not see the host: no /work, no data dir, own pid namespace', async () => {
    const r = await ssh(alice, `ls /work 2>/dev/null | wc -l; ls ${dir} 2>/dev/null | wc -l; ls /proc | grep -c '^[0-9]'`, { user: 'web' })
    const [work, data, procs] = r.stdout.trim().split('\n').map((s) => Number(s.trim()))
    expect(work).toBe(0)
    expect(data).toBe(0)
    expect(procs).toBeLessThan(15)
  })

  it.skipIf(Boolean(skip))('a file survives stop/start; a stopped machine says so and exits non-zero', async () => {
    expect((await ssh(alice, 'echo kept > /root/note', { user: 'web' })).code).toBe(0)
    expect((await ssh(alice, 'stop web')).code).toBe(0)
    const stopped = await ssh(alice, 'cat /root/note', { user: 'web' })
    expect(stopped.code).toBe(7)
    expect(stopped.stderr).toMatch(/machine web is stopped/)
    expect((await ssh(alice, 'start web')).code).toBe(0)
    expect((await ssh(alice, 'cat /root/note', { user: 'web' })).stdout).toBe('kept\n')
  })

  it.skipIf(Boolean(skip))('machines keep running across a server restart and are reachable again', async () => {
    expect((await ssh(alice, 'nohup sleep 600 >/dev/null 2>&1 &', { user: 'web' })).code).toBe(0)
    await server!.close()
    server = undefined
    await start()
    // /proc, not ps: the same on Debian's procps and busybox.
    const r = await ssh(alice, "cat /root/note; cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -q 'sleep 600' && echo sleeping", { user: 'web' })
    expect(r.stdout).toBe('kept\nsleeping\n')
    expect(JSON.parse((await ssh(alice, 'stat web --json')).stdout)).toMatchObject({ status: 'running', driver_state: 'running' })
  })

  it.skipIf(Boolean(skip))('attack: another user naming your machine gets the lobby, never your machine', async () => {
    const r = await ssh(bob, 'whoami --json', { user: 'web' })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).email).toBe('bob@example.com')
    expect((await ssh(bob, 'stop web')).code).toBe(6)
    const st = await ssh(alice, 'stat web --json')
    expect(JSON.parse(st.stdout).status, st.stdout + st.stderr).toBe('running')
  })

  it.skipIf(Boolean(skip))('names and quotas through ssh: taken → 7, bad → 2, over quota → 9', async () => {
    expect((await ssh(bob, 'new --name=web')).code).toBe(7)
    expect((await ssh(bob, 'new --name=Bad_Name')).code).toBe(2)
    expect((await ssh(alice, 'new --name=two')).code).toBe(0)
    expect((await ssh(alice, 'new --name=three')).code).toBe(0)
    const over = await ssh(alice, 'new --name=four')
    expect(over.code).toBe(9)
    expect((await ssh(alice, 'rm two three')).code).toBe(0)
  })

  it.skipIf(Boolean(skip))('rm removes the machine and its disk', async () => {
    const id = server!.app.services.store.machines.byName('web')!.id
    const r = await ssh(alice, 'rm web --json')
    expect(JSON.parse(r.stdout)).toEqual({ deleted: ['web'], failed: [] })
    expect(await server!.app.services.machines.driver.list()).not.toContain(id)
    if (driver === 'sandbox') expect(existsSync(join(dir, 'data', 'machines', id))).toBe(false)
    expect((await ssh(alice, 'true', { user: 'web' })).stdout).not.toMatch(/web/) // now the lobby: `true` is no verb
  })
})
