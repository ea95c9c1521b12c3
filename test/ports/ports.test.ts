// `port open/close/ls` over a real SQLite store and real loopback listeners; the "machine" is a
// TCP echo server reached through a driver whose connect() dials it. Host ports are below 32768,
// out of the kernel's ephemeral range, so no client socket of a parallel test can hold one.
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app.js'
import { makeApp, addUser, run, type TestApp } from '../helpers/app.js'
import type { User } from '../../src/store/index.js'
import { LoopbackDriver, startTcpEcho, writeWriteReadMs } from '../proxy/helpers.js'
import pino from 'pino'
import { DriverError } from '../../src/machines/driver.js'

let app: TestApp
let driver: LoopbackDriver
let echo: Awaited<ReturnType<typeof startTcpEcho>>
let alice: User
let bob: User
const RANGE = { from: 30000, to: 30899 }

const ok = async (u: User, line: string) => {
  const o = await run(app, u, `${line} --json`)
  if (!o.ok) throw new Error(`${line}: ${o.stderr}`)
  return JSON.parse(o.stdout)
}

/** Connects, sends `msg`, half-closes, and returns everything received (or the error code). */
function roundTrip(port: number, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    let out = ''
    s.on('connect', () => s.end(msg))
    s.on('data', (d) => { out += d.toString() })
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code}`))
    s.on('close', () => resolve(out))
  })
}

beforeEach(async () => {
  driver = new LoopbackDriver()
  app = makeApp({ driver, config: { portRange: RANGE } })
  echo = await startTcpEcho()
  driver.targets.set(8080, echo.port)
  alice = addUser(app, 'alice@example.com').user
  bob = addUser(app, 'bob@example.com').user
  await ok(alice, 'new --name=web')
  await app.services.ports.start()
})
afterEach(async () => {
  await app.services.ports.stop()
  await echo.close()
  app.cleanup()
})

describe('port open', () => {
  it('forwards a host port from the range into the machine, with the pinned JSON fields', async () => {
    const r = await ok(alice, 'port open web 8080')
    expect(Object.keys(r).sort()).toEqual(['created_at', 'host_port', 'listen', 'machine', 'port', 'state', 'to'])
    expect(r).toMatchObject({ machine: 'web', port: 8080, state: 'listening', to: ['0.0.0.0/0', '::/0'] })
    expect(r.host_port).toBeGreaterThanOrEqual(RANGE.from)
    expect(r.host_port).toBeLessThanOrEqual(RANGE.to)
    expect(r.listen).toBe(`127.0.0.1:${r.host_port}`)
    expect(await roundTrip(r.host_port, 'ping through the forward')).toBe('ping through the forward')
  })
  it('--host-port is honoured; one already forwarded → conflict', async () => {
    expect((await ok(alice, 'port open web 8080 --host-port 30010')).host_port).toBe(30010)
    await ok(alice, 'new --name=db')
    const o = await run(app, alice, 'port open db 8080 --host-port 30010')
    expect([o.error?.code, o.exit]).toEqual(['conflict', 7])
  })
  it('a host port in use by another program → conflict, and nothing is recorded', async () => {
    const squatter: Server = createServer()
    await new Promise<void>((r) => squatter.listen(30020, '127.0.0.1', r))
    try {
      const o = await run(app, alice, 'port open web 8080 --host-port 30020')
      expect(o.error?.code).toBe('conflict')
      expect(o.error?.message).toMatch(/in use/)
      expect((await ok(alice, 'port ls')).ports).toEqual([])
    } finally {
      squatter.close()
    }
  })
  it('refuses a host port outside the operator\'s range (a user cannot take boxd\'s own ports)', async () => {
    for (const hp of [22, 2222, 8443, 29999, 30900]) {
      expect((await run(app, alice, `port open web 8080 --host-port ${hp}`)).error?.code, String(hp)).toBe('usage')
    }
  })
  it('the same machine port twice → conflict', async () => {
    await ok(alice, 'port open web 8080')
    expect((await run(app, alice, 'port open web 8080')).error?.code).toBe('conflict')
  })
  it('bad --to values are usage errors', async () => {
    for (const to of ['10.0.0.0/33', 'example.com', 'fe80::1%eth0', '10.0.0.0/x']) {
      expect((await run(app, alice, `port open web 8080 --to ${to}`)).error?.code, to).toBe('usage')
    }
  })
  it('another user\'s machine is not_found in open, close and ls', async () => {
    await ok(alice, 'port open web 8080 --host-port 30030')
    for (const line of ['port open web 8080', 'port close web 8080', 'port ls web']) {
      expect((await run(app, bob, line)).error?.code, line).toBe('not_found')
    }
    expect((await ok(bob, 'port ls')).ports).toEqual([])
  })
})

describe('port open when the machine side cannot be served', () => {
  it('the host port is free but no relay can start: kept, state failed with the reason (not a port conflict)', async () => {
    class Unreachable extends LoopbackDriver {
      async netns(): Promise<never> { throw new DriverError('unavailable', 'no way into this machine') }
    }
    const other = makeApp({ driver: new Unreachable(), config: { portRange: { from: 30900, to: 30999 } } })
    try {
      const carol = addUser(other, 'carol@example.com').user
      const o1 = await run(other, carol, 'new --name=web')
      expect(o1.ok).toBe(true)
      await other.services.ports.start()
      const o = await run(other, carol, 'port open web 8080 --json')
      expect(o.ok).toBe(true)
      const r = JSON.parse(o.stdout)
      expect(r).toMatchObject({ state: 'failed', reason: expect.stringMatching(/no way into this machine/) })
      expect(other.services.store.ports.forMachine(other.services.store.machines.byName('web')!.id)).toHaveLength(1)
    } finally {
      await other.services.ports.stop()
      other.cleanup()
    }
  })
})

describe('--to allow-list', () => {
  it('a source outside --to is disconnected at once and the machine is never contacted', async () => {
    const r = await ok(alice, 'port open web 8080 --to 10.0.0.0/8 --to 2001:db8::/32')
    expect(r.to).toEqual(['10.0.0.0/8', '2001:db8::/32'])
    const got = await roundTrip(r.host_port, 'let me in')
    expect(got === '' || got.startsWith('error:')).toBe(true)
    expect(driver.connects).toBe(0)
  })
  it('a source inside --to gets through', async () => {
    const r = await ok(alice, 'port open web 8080 --to 127.0.0.0/8')
    expect(await roundTrip(r.host_port, 'hello')).toBe('hello')
  })
})

describe('port close, machine state, restarts', () => {
  it('port close really closes: new connections refused, open ones cut', async () => {
    const r = await ok(alice, 'port open web 8080')
    const live: Socket = connect(r.host_port, '127.0.0.1')
    await new Promise((res) => live.once('connect', res))
    live.write('x')
    await new Promise((res) => live.once('data', res))
    const cut = new Promise((res) => live.once('close', res))
    expect(await ok(alice, 'port close web 8080')).toEqual({ machine: 'web', port: 8080, host_port: r.host_port })
    await cut
    expect(await roundTrip(r.host_port, 'x')).toBe('error:ECONNREFUSED')
    expect((await ok(alice, 'port ls web')).ports).toEqual([])
  })
  it('closed on stop, re-bound on start, gone with rm', async () => {
    const r = await ok(alice, 'port open web 8080')
    await ok(alice, 'stop web')
    expect(await roundTrip(r.host_port, 'x')).toBe('error:ECONNREFUSED')
    expect((await ok(alice, 'port ls web')).ports[0].state).toBe('inactive')
    await ok(alice, 'start web')
    expect(await roundTrip(r.host_port, 'back')).toBe('back')
    await ok(alice, 'rm web')
    await new Promise((res) => setTimeout(res, 20)) // the state listener runs after rm returns
    expect(await roundTrip(r.host_port, 'x')).toBe('error:ECONNREFUSED')
    expect(app.services.store.db.prepare('SELECT count(*) AS n FROM port_forwards').get()).toEqual({ n: 0 })
  })
  it('opening on a stopped machine records the forward; it listens once the machine starts', async () => {
    await ok(alice, 'stop web')
    const r = await ok(alice, 'port open web 8080')
    expect(r.state).toBe('inactive')
    await ok(alice, 'start web')
    expect(await roundTrip(r.host_port, 'late')).toBe('late')
  })
  it('persisted and re-bound when a server starts on the same data dir', async () => {
    const r = await ok(alice, 'port open web 8080 --to 127.0.0.1')
    await app.services.ports.stop()
    expect(await roundTrip(r.host_port, 'x')).toBe('error:ECONNREFUSED')
    const again = createApp(app.config, { clock: app.clock, log: pino({ level: 'silent' }), driver })
    try {
      await again.services.ports.start()
      expect(await roundTrip(r.host_port, 'after restart')).toBe('after restart')
      const [f] = again.services.ports.list(again.services.store.machines.all())
      expect(f).toMatchObject({ port: 8080, host_port: r.host_port, to: ['127.0.0.1/32'], state: 'listening' })
    } finally {
      await again.services.ports.stop()
      again.close()
    }
  })
  it('without a serving process (boxd run), port open records but binds nothing', async () => {
    await app.services.ports.stop()
    const r = await ok(alice, 'port open web 8080')
    expect(r.state).toBe('inactive')
    expect(await roundTrip(r.host_port, 'x')).toBe('error:ECONNREFUSED')
  })
})

describe('streams', () => {
  it('8 MiB round trip intact through the forward', async () => {
    const r = await ok(alice, 'port open web 8080')
    const payload = Buffer.alloc(8 << 20)
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i % 251
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(r.host_port, '127.0.0.1')
      const chunks: Buffer[] = []
      s.on('connect', () => s.end(payload))
      s.on('data', (d: Buffer) => chunks.push(d))
      s.on('close', () => resolve(Buffer.concat(chunks)))
      s.on('error', reject)
    })
    expect(got.equals(payload)).toBe(true)
  })
  it('a machine that sends 16 MiB and closes: a slow client gets every byte, then the end', async () => {
    // The machine and the client are other processes, as in real use (relay.test.ts pins the
    // ordering deterministically: the machine's close must not drop bytes queued in boxd).
    const bytes = 16 << 20
    const machine = spawn(process.execPath, ['-e', `
      const c = Buffer.alloc(256 * 1024, 97)
      const srv = require('net').createServer((s) => { s.on('error', () => {}); let left = ${bytes}
        const pump = () => { while (left > 0) { left -= c.length; if (!s.write(c)) return void s.once('drain', pump) } s.end() }
        pump() })
      srv.listen(0, '127.0.0.1', () => console.log(srv.address().port))`], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const machinePort = await new Promise<number>((res) => machine.stdout.once('data', (d: Buffer) => res(Number(d.toString().trim()))))
      driver.targets.set(9100, machinePort)
      const r = await ok(alice, 'port open web 9100')
      const client = `const s = require('net').connect(${r.host_port}, '127.0.0.1'); let n = 0
        s.on('data', (d) => { n += d.length; s.pause(); setTimeout(() => s.resume(), 3) })
        s.on('end', () => console.log(n))`
      for (let i = 0; i < 2; i++) {
        const { stdout } = await promisify(execFile)(process.execPath, ['-e', client], { encoding: 'utf8', timeout: 20_000 })
        expect(Number(stdout.trim())).toBe(bytes)
      }
    } finally {
      machine.kill()
    }
  })
  it('write-write-read exchanges are not held back by boxd (no Nagle delay of its own)', async () => {
    const answering = await new Promise<Server>((res) => {
      const srv = createServer((s) => {
        let got = ''
        s.on('data', (d: Buffer) => { got += d.toString(); while (got.length >= 4) { got = got.slice(4); s.write('ok') } })
      })
      srv.listen(0, '127.0.0.1', () => res(srv))
    })
    driver.targets.set(9200, (answering.address() as AddressInfo).port)
    try {
      const r = await ok(alice, 'port open web 9200')
      expect(await writeWriteReadMs(r.host_port)).toBeLessThan(400)
    } finally {
      answering.close()
    }
  })
  it('backpressure: a machine that does not read stalls the sender instead of filling boxd\'s memory', async () => {
    const stalled = await startTcpEcho({ paused: true })
    driver.targets.set(9000, stalled.port)
    try {
      const r = await ok(alice, 'port open web 9000')
      const s = connect(r.host_port, '127.0.0.1')
      await new Promise((res) => s.once('connect', res))
      const chunk = Buffer.alloc(1 << 20)
      const deadline = Date.now() + 1500
      let offered = 0
      // Bounded: at most 256 MiB offered, for at most 1.5 s.
      while (Date.now() < deadline && offered < 256 << 20) {
        if (s.write(chunk)) { offered += chunk.length; continue }
        offered += chunk.length
        let onDrain = () => {}
        await Promise.race([new Promise<void>((res) => { onDrain = res; s.once('drain', onDrain) }), new Promise((res) => setTimeout(res, 100))])
        s.off('drain', onDrain)
      }
      const accepted = s.bytesWritten
      if (process.env.BOXD_TEST_DEBUG) console.log('accepted', accepted)
      s.destroy()
      // Only socket buffers (client, boxd both ways, machine) hold data; never the whole stream.
      expect(accepted).toBeLessThan(64 << 20)
    } finally {
      await stalled.close()
    }
  })
})

describe('port ls', () => {
  it('lists all of yours, or one machine\'s', async () => {
    await ok(alice, 'new --name=db')
    driver.targets.set(5432, echo.port)
    await ok(alice, 'port open web 8080')
    await ok(alice, 'port open db 5432')
    expect((await ok(alice, 'port ls')).ports.map((p: { machine: string }) => p.machine).sort()).toEqual(['db', 'web'])
    expect((await ok(alice, 'port ls db')).ports.map((p: { port: number }) => p.port)).toEqual([5432])
    const human = await run(app, alice, 'port ls')
    expect(human.stdout).toMatch(/web\s+8080\s+127\.0\.0\.1:30\d{3}/)
  })
})
