// The port relay program (src/ports/relay-program.ts) run as it runs in production — its own node
// process, handed a listening socket as fd 3 — but without nsenter: its "machine" is this host's
// 127.0.0.1, so the program's own behaviour (the --to gate, the bridge, readiness, exit with the
// machine) is pinned here in milliseconds; test/ports/relays.test.ts runs it in real machines.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { procStartTime } from '../../src/machines/forwarder/host-process.js'
import { writeRelayScript } from '../../src/ports/relay-program.js'
import { within } from '../machines/helpers.js'
import { writeWriteReadMs } from '../proxy/helpers.js'

let script: string
const children: ChildProcess[] = []
const servers: Server[] = []

beforeAll(() => {
  script = writeRelayScript(fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-relay-')))
})
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  for (const s of servers.splice(0)) s.close()
})

/** A "machine" server on 127.0.0.1; `onConn` decides what it does. */
async function machine(onConn: (s: Socket) => void): Promise<{ port: number; conns: () => number }> {
  let n = 0
  const srv = createServer({ allowHalfOpen: true }, (s) => { n++; s.on('error', () => {}); onConn(s) })
  servers.push(srv)
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  return { port: (srv.address() as AddressInfo).port, conns: () => n }
}

/** Binds a host port and starts the relay on it, as relays.ts does (minus nsenter); resolves once ready. */
async function relay(machinePort: number, allow = ['0.0.0.0/0', '::/0'], target = { pid: process.pid }): Promise<{ port: number; child: ChildProcess }> {
  const listener = createServer()
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
  const port = (listener.address() as AddressInfo).port
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd
  const child = spawn(process.execPath, [script, 'fwd_test', String(target.pid), procStartTime(target.pid)!, String(machinePort), JSON.stringify(allow)], { stdio: ['ignore', 'pipe', 'inherit', fd] })
  children.push(child)
  listener.close()
  await within(new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => (d.toString() === 'ready\n' ? resolve() : reject(new Error(d.toString()))))
    child.once('exit', (code) => reject(new Error(`relay exited ${code}`)))
  }), 10_000, 'relay ready')
  return { port, child }
}

/** Sends `data`, half-closes, returns everything received (or the error code) once closed. */
function exchange(port: number, data: Buffer | string, o: { slow?: boolean } = {}): Promise<{ got: Buffer; error?: string }> {
  return within(new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let error: string | undefined
    s.on('connect', () => s.end(data))
    s.on('data', (d: Buffer) => {
      chunks.push(d)
      if (o.slow) { s.pause(); setTimeout(() => s.resume(), 2) }
    })
    s.on('error', (e: NodeJS.ErrnoException) => { error = e.code })
    s.on('close', () => resolve({ got: Buffer.concat(chunks), error }))
  }), 20_000, 'exchange through the relay')
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('port relay program', () => {
  it('carries 8 MiB both ways intact (echo, half-close passed on)', async () => {
    const m = await machine((s) => s.pipe(s))
    const r = await relay(m.port)
    const payload = randomBytes(8 << 20)
    const { got } = await exchange(r.port, payload)
    expect(got.length).toBe(payload.length)
    expect(sha(got)).toBe(sha(payload))
  })

  it('a machine that sends 24 MiB and closes: a slow client still gets every byte, then the end', async () => {
    const body = randomBytes(24 << 20)
    const m = await machine((s) => { s.resume(); s.end(body) })
    const r = await relay(m.port)
    const { got, error } = await exchange(r.port, 'x', { slow: true })
    expect(error).toBeUndefined()
    expect(sha(got)).toBe(sha(body))
  })

  it('after the client\'s FIN the machine may still answer (half-close)', async () => {
    const m = await machine((s) => {
      const parts: Buffer[] = []
      s.on('data', (d: Buffer) => parts.push(d))
      s.on('end', () => setTimeout(() => s.end(`got ${Buffer.concat(parts).length} bytes`), 50))
    })
    const r = await relay(m.port)
    expect((await exchange(r.port, Buffer.alloc(100_000, 1))).got.toString()).toBe('got 100000 bytes')
  })

  it('backpressure: a machine that does not read stalls the sender; the relay holds at most its buffers', async () => {
    const m = await machine((s) => s.pause())
    const r = await relay(m.port)
    const s = connect(r.port, '127.0.0.1')
    await new Promise((res) => s.once('connect', res))
    const chunk = Buffer.alloc(1 << 20)
    const deadline = Date.now() + 1500
    // Bounded: at most 256 MiB offered, for at most 1.5 s.
    while (Date.now() < deadline && s.bytesWritten + s.writableLength < 256 << 20) {
      if (s.write(chunk)) continue
      let onDrain = () => {}
      await Promise.race([new Promise<void>((res) => { onDrain = res; s.once('drain', onDrain) }), new Promise((res) => setTimeout(res, 100))])
      s.off('drain', onDrain)
    }
    const accepted = s.bytesWritten
    s.destroy()
    if (process.env.BOXD_TEST_DEBUG) console.log('accepted', accepted, 'relay rss', fs.readFileSync(`/proc/${r.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1])
    // Socket buffers (client, relay both ways, machine) and one relay buffer: never the stream.
    expect(accepted).toBeLessThan(96 << 20)
    const rss = Number(fs.readFileSync(`/proc/${r.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) * 1024
    expect(rss).toBeLessThan(128 << 20)
  })

  it('write-write-read exchanges are not held back by the relay (no Nagle delay of its own)', async () => {
    // The machine answers once it has both halves of a request; a relay whose socket batched the
    // second small write until the first was acknowledged would stall on the machine's delayed ACK.
    const m = await machine((s) => {
      let got = ''
      s.on('data', (d: Buffer) => {
        got += d.toString()
        while (got.length >= 4) { got = got.slice(4); s.write('ok') }
      })
    })
    const r = await relay(m.port)
    expect(await writeWriteReadMs(r.port)).toBeLessThan(400)
  })

  it('rejects a source outside --to before reading a byte, and never contacts the machine', async () => {
    const m = await machine((s) => s.pipe(s))
    const r = await relay(m.port, ['10.0.0.0/8', '2001:db8::/32'])
    const { got } = await exchange(r.port, 'let me in')
    expect(got.length).toBe(0)
    expect(m.conns()).toBe(0)
    const inside = await relay(m.port, ['127.0.0.0/8'])
    expect((await exchange(inside.port, 'hello')).got.toString()).toBe('hello')
  })

  it('a machine port with nothing listening: the client is closed, the relay keeps serving', async () => {
    const m = await machine((s) => s.pipe(s))
    const gone = await machine(() => {})
    const closedPort = gone.port
    servers.pop()!.close()
    const r = await relay(closedPort)
    expect((await exchange(r.port, 'x')).got.length).toBe(0)
    expect(r.child.exitCode).toBeNull()
    void m
  })

  it('exits by itself once the machine (its target process) is gone', async () => {
    const m = await machine((s) => s.pipe(s))
    const init = spawn('sleep', ['60'])
    children.push(init)
    await new Promise((res) => init.once('spawn', res))
    const r = await relay(m.port, undefined, { pid: init.pid! })
    const exited = new Promise((res) => r.child.once('exit', res))
    init.kill('SIGKILL')
    await within(exited, 5000, 'relay exit after its machine')
  })
})
