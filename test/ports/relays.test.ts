// Port forwards on real machines, both drivers: the host port is bound by boxd and served by a
// relay process inside the machine's network namespace (src/ports/relays.ts), which outlives a
// boxd restart without being duplicated, enforces --to, and goes with `port close` and machine
// stop. Busybox servers inside the machine; every wait bounded; loopback only.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Docker from 'dockerode'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import type { Driver } from '../../src/machines/driver.js'
import { DockerDriver } from '../../src/machines/docker/index.js'
import { isAlive, waitReleased, type ProcessRef } from '../../src/machines/forwarder/host-process.js'
import { SandboxDriver } from '../../src/machines/sandbox/index.js'
import type { User } from '../../src/store/index.js'
import { addUser, run } from '../helpers/app.js'
import { eventually, sh, within } from '../machines/helpers.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 })

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const DOCKER_IMAGE = 'boxd-test:busybox'

interface Fixture {
  name: 'sandbox' | 'docker'
  skip?: string
  make(dataDir: string): Driver
  image: string
  busybox: string
  range: { from: number; to: number }
}

async function dockerSkip(): Promise<string | undefined> {
  try {
    await within(new Docker().ping(), 3000, 'docker ping')
    execFileSync(path.join(repo, 'scripts/docker-test-image.sh'), { stdio: 'pipe' })
    return undefined
  } catch (e) {
    return `no usable Docker engine at /var/run/docker.sock (${(e as Error).message.split('\n')[0]})`
  }
}

const fixtures: Fixture[] = [
  {
    name: 'sandbox', skip: process.getuid?.() === 0 ? undefined : 'the sandbox driver needs root',
    make: (dataDir) => new SandboxDriver({ dataDir, stopGraceMs: 2000 }), image: 'host', busybox: '/dev/.boxd/busybox', range: { from: 31200, to: 31299 },
  },
  {
    name: 'docker', skip: await dockerSkip(),
    make: (dataDir) => new DockerDriver({ defaultImage: DOCKER_IMAGE, dataDir, stopTimeoutSec: 2 }), image: DOCKER_IMAGE, busybox: '/bin/busybox', range: { from: 31300, to: 31399 },
  },
]
for (const f of fixtures) if (f.skip) console.log(`[port relays] skipping ${f.name}: ${f.skip}`)

const BULK = 32 << 20

/** Servers inside the machine: echo on 7000, BULK zero bytes on 7001, a connection logger on 7002. */
function machineSetup(bb: string): string {
  return [
    `printf '#!/bin/sh\\nexec ${bb} head -c ${BULK} /dev/zero\\n' >/tmp/bulk.sh`,
    `printf '#!/bin/sh\\necho hit >>/tmp/hits\\n' >/tmp/hit.sh`,
    'chmod +x /tmp/bulk.sh /tmp/hit.sh',
    `nohup ${bb} nc -ll -p 7000 -e ${bb} cat >/dev/null 2>&1 &`,
    `nohup ${bb} nc -ll -p 7001 -e /tmp/bulk.sh >/dev/null 2>&1 &`,
    `nohup ${bb} nc -ll -p 7002 -e /tmp/hit.sh >/dev/null 2>&1 &`,
  ].join('\n')
}

/** Sends `data`, half-closes, collects the answer (bounded). */
function exchange(port: number, data: Buffer | string): Promise<{ got: Buffer; error?: string }> {
  return within(new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let error: string | undefined
    s.on('connect', () => s.end(data))
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code })
    s.on('close', () => resolve({ got: Buffer.concat(chunks), error }))
  }), 30_000, `exchange with 127.0.0.1:${port}`)
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const netnsOf = (pid: number | string) => fs.readlinkSync(`/proc/${pid}/ns/net`)

/** Relay processes for this forward, found by their command line (what `ps` would show). */
function relayPids(forwardId: string): number[] {
  const out: number[] = []
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
      if (argv.some((a) => a.endsWith('/relay.cjs')) && argv.includes(forwardId) && !argv[0].endsWith('nsenter')) out.push(Number(p))
    } catch { /* gone */ }
  }
  return out
}

describe.each(fixtures)('port relays on the $name driver', (f) => {
  let dir: string
  let app: App
  let alice: User
  let machineId: string
  const config = () => resolveConfig({ dataDir: dir, listen: '127.0.0.1', driver: f.name, defaultImage: f.image, portRange: f.range })
  const ok = async (line: string) => {
    const o = await run(app, alice, `${line} --json`)
    if (!o.ok) throw new Error(`${line}: ${o.stderr}`)
    return JSON.parse(o.stdout)
  }
  const record = (fwd: string) => JSON.parse(fs.readFileSync(path.join(dir, 'ports', `${fwd}.json`), 'utf8')) as { relay: ProcessRef }
  const forwardId = (port: number) => app.services.store.ports.get(machineId, port)!.id
  const echo = async (hostPort: number) => {
    const payload = randomBytes(1 << 20)
    const { got } = await exchange(hostPort, payload)
    return got.length === payload.length && sha(got) === sha(payload)
  }
  const setup = async () => {
    const r = await sh(app.services.machines.driver, machineId, machineSetup(f.busybox))
    if (r.code !== 0) throw new Error(`machine setup failed: ${r.stderr}`)
  }

  beforeAll(async () => {
    if (f.skip) return
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `boxd-relays-${f.name}-`))
    app = createApp(config(), { driver: f.make(dir), log: pino({ level: 'silent' }) })
    alice = addUser(app, 'alice@example.com').user
    await ok('new --name=web')
    machineId = app.services.store.machines.byName('web')!.id
    await setup()
    await app.services.ports.start()
  })

  afterAll(async () => {
    if (f.skip || !app) return
    await app.services.machines.remove(app.services.store.machines.byName('web')!).catch(() => {})
    await app.services.ports.stop()
    app.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it.skipIf(!!f.skip)('port open starts one relay in the machine\'s network namespace; 1 MiB echoes intact', async () => {
    const open = await ok('port open web 7000')
    expect(open.state).toBe('listening')
    const rec = record(forwardId(7000))
    expect(isAlive(rec.relay)).toBe(true)
    expect(rec.relay.pid).not.toBe(process.pid)
    const init = await app.services.machines.driver.netns!(machineId)
    expect(netnsOf(rec.relay.pid)).toBe(netnsOf(init.pid))
    expect(netnsOf(rec.relay.pid)).not.toBe(netnsOf(process.pid))
    expect(await eventually(async () => ((await echo(open.host_port)) ? true : undefined), 10_000, 'echo through the relay')).toBe(true)
    expect(relayPids(forwardId(7000))).toEqual([rec.relay.pid])
  })

  it.skipIf(!!f.skip)('a 32 MiB download arrives whole through the relay', async () => {
    const open = await ok('port open web 7001')
    const { got } = await eventually(async () => {
      const r = await exchange(open.host_port, '')
      return r.got.length > 0 ? r : undefined
    }, 10_000, 'bulk server in the machine')
    expect(got.length).toBe(BULK)
    expect(got.every((b) => b === 0)).toBe(true)
  })

  it.skipIf(!!f.skip)('--to: a source outside the list is cut before the machine is contacted', async () => {
    const fenced = await ok('port open web 7002 --to 10.0.0.0/8 --to 2001:db8::/32')
    const { got } = await exchange(fenced.host_port, 'let me in')
    expect(got.length).toBe(0)
    await new Promise((r) => setTimeout(r, 300))
    expect((await sh(app.services.machines.driver, machineId, 'cat /tmp/hits 2>/dev/null || echo none')).stdout.trim()).toBe('none')
    // The same port, opened to loopback: the machine is reached (so the check above can fail).
    await ok('port close web 7002')
    const open = await ok('port open web 7002 --to 127.0.0.0/8')
    await exchange(open.host_port, 'x')
    await eventually(async () => ((await sh(app.services.machines.driver, machineId, 'cat /tmp/hits')).stdout.includes('hit') ? true : undefined), 5000, 'hit logged')
    await ok('port close web 7002')
  })

  it.skipIf(!!f.skip)('a host port in use by another program → conflict, nothing recorded, no relay left', async () => {
    const squatter = createServer()
    await new Promise<void>((r) => squatter.listen(f.range.to, '127.0.0.1', r))
    try {
      const o = await run(app, alice, `port open web 7003 --host-port ${f.range.to}`)
      expect([o.error?.code, o.error?.message]).toEqual(['conflict', expect.stringMatching(/in use/)])
      expect(app.services.store.ports.get(machineId, 7003)).toBeUndefined()
      expect(fs.readdirSync(path.join(dir, 'ports')).filter((n) => n.endsWith('.json'))).toHaveLength(app.services.store.ports.forMachine(machineId).length)
    } finally {
      squatter.close()
    }
  })

  it.skipIf(!!f.skip)('the relay survives a server restart and is adopted, never duplicated', async () => {
    const fwd = forwardId(7000)
    const before = record(fwd).relay
    const hostPort = app.services.store.ports.get(machineId, 7000)!.host_port
    await app.services.ports.stop()
    // No server: the relay keeps serving (like the machine itself), and says so.
    expect(isAlive(before)).toBe(true)
    expect(await echo(hostPort)).toBe(true)
    expect((await ok('port ls web')).ports.find((x: { port: number }) => x.port === 7000).state).toBe('listening')
    app.close()
    app = createApp(config(), { driver: f.make(dir), log: pino({ level: 'silent' }) })
    await app.services.ports.start()
    const [p] = (await ok('port ls web')).ports.filter((x: { port: number }) => x.port === 7000)
    expect(p.state).toBe('listening')
    expect(record(fwd).relay).toEqual(before)
    expect(relayPids(fwd)).toEqual([before.pid])
    expect(await echo(hostPort)).toBe(true)
  })

  it.skipIf(!!f.skip)('a relay no record names (boxd died before writing it) is replaced on start, not duplicated', async () => {
    const fwd = forwardId(7000)
    const orphan = record(fwd).relay
    const hostPort = app.services.store.ports.get(machineId, 7000)!.host_port
    await app.services.ports.stop()
    app.close()
    fs.rmSync(path.join(dir, 'ports', `${fwd}.json`))
    app = createApp(config(), { driver: f.make(dir), log: pino({ level: 'silent' }) })
    await app.services.ports.start()
    expect(await waitReleased(orphan, 5000)).toBe(true)
    const now = record(fwd).relay
    expect(now.pid).not.toBe(orphan.pid)
    expect((await ok('port ls web')).ports.find((x: { port: number }) => x.port === 7000).state).toBe('listening')
    await eventually(async () => (relayPids(fwd).length ? true : undefined), 5000, 'relay running node')
    expect(relayPids(fwd)).toEqual([now.pid])
    expect(await echo(hostPort)).toBe(true)
  })

  it.skipIf(!!f.skip)('a relay that dies while its machine runs is started again', async () => {
    const fwd = forwardId(7000)
    const hostPort = app.services.store.ports.get(machineId, 7000)!.host_port
    const first = record(fwd).relay
    process.kill(first.pid, 'SIGKILL')
    const second = await eventually(async () => {
      const r = record(fwd).relay
      return r.pid !== first.pid && isAlive(r) ? r : undefined
    }, 15_000, 'relay started again')
    // (Until it has exec'd node, the new relay's command line is still nsenter's.)
    await eventually(async () => (relayPids(fwd).length ? true : undefined), 5000, 'relay running node')
    expect(relayPids(fwd)).toEqual([second.pid])
    expect(await echo(hostPort)).toBe(true)
  })

  it.skipIf(!!f.skip)('port close kills the relay: open connections cut, new ones refused', async () => {
    const fwd = forwardId(7000)
    const relay = record(fwd).relay
    const hostPort = app.services.store.ports.get(machineId, 7000)!.host_port
    const live: Socket = connect(hostPort, '127.0.0.1')
    live.on('error', () => {})
    await within(new Promise((r) => live.once('connect', r)), 5000, 'connect')
    live.write('x')
    await within(new Promise((r) => live.once('data', r)), 10_000, 'echo')
    const cut = new Promise((r) => live.once('close', r))
    await ok('port close web 7000')
    await within(cut, 5000, 'open connection cut')
    expect(isAlive(relay)).toBe(false)
    expect(relayPids(fwd)).toEqual([])
    expect(fs.existsSync(path.join(dir, 'ports', `${fwd}.json`))).toBe(false)
    expect((await exchange(hostPort, 'x')).error).toBe('ECONNREFUSED')
  })

  it.skipIf(!!f.skip)('machine stop ends its relays and closes the ports; start serves them again', async () => {
    const open = await ok('port open web 7000')
    const fwd = forwardId(7000)
    const relay = record(fwd).relay
    await ok('stop web')
    expect(await waitReleased(relay, 5000)).toBe(true)
    expect((await exchange(open.host_port, 'x')).error).toBe('ECONNREFUSED')
    expect((await ok('port ls web')).ports.find((p: { port: number }) => p.port === 7000).state).toBe('inactive')
    await ok('start web')
    await eventually(async () => (isAlive(record(fwd).relay) ? true : undefined), 10_000, 'relay after start')
    expect(record(fwd).relay.pid).not.toBe(relay.pid)
    await setup()
    expect(await eventually(async () => ((await echo(open.host_port)) ? true : undefined), 10_000, 'echo after start')).toBe(true)
    expect(relayPids(fwd)).toHaveLength(1)
  })

  it.skipIf(!!f.skip)('port close from a process that does not serve (boxd run) ends the relay for good', async () => {
    const fwd = forwardId(7001)
    const relay = record(fwd).relay
    const hostPort = app.services.store.ports.get(machineId, 7001)!.host_port
    const cli = createApp(config(), { driver: f.make(dir), log: pino({ level: 'silent' }) })
    try {
      const o = await run(cli, alice, 'port close web 7001')
      expect(o.ok).toBe(true)
    } finally {
      cli.close()
    }
    expect(isAlive(relay)).toBe(false)
    // Longer than the serving process's relay watch: it must not start the relay again.
    await new Promise((r) => setTimeout(r, 2500))
    expect(relayPids(fwd)).toEqual([])
    expect((await exchange(hostPort, 'x')).error).toBe('ECONNREFUSED')
  })

  it.skipIf(!!f.skip)('rm leaves no relay behind', async () => {
    const fwds = app.services.store.ports.forMachine(machineId).map((r) => r.id)
    expect(fwds.length).toBeGreaterThan(0)
    const relays = fwds.map((id) => record(id).relay)
    await ok('rm web')
    for (const r of relays) expect(await waitReleased(r, 5000)).toBe(true)
    for (const id of fwds) expect(relayPids(id)).toEqual([])
  })
})
