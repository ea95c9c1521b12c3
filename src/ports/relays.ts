// Forwarded ports whose bytes never pass through boxd: boxd binds the host port (so
// --ports-listen, conflicts and port picking stay here) and hands the listening socket to a relay
// process inside the machine's network namespace (relay-program.ts). The relay accepts, checks
// --to, and copies between the client and the machine's 127.0.0.1:PORT in its own process.
//
// Why (measured with scripts/bench/forward.mjs on the 2-core bench box): the old path copied every
// byte twice in user space in two node processes — boxd (host socket → unix socket) and the
// machine's forwarder (unix socket → 127.0.0.1:PORT) — and one of the two was boxd's own event
// loop. One copy in one dedicated process halves the CPU per byte and keeps boxd's API latency
// free of bulk transfers.
//
// Relays are detached and recorded in <data dir>/ports/<forward id>.json (process identity =
// pid + start time, the machine init they serve, and what they listen for), so they survive a
// boxd restart and are adopted again — never duplicated: the host port is held by exactly one
// process, and a new one is only started after the recorded one is gone. They are killed on
// `port close` and machine stop/rm, and exit by themselves when the machine's init is gone.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { createServer, type Server } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { Logger } from 'pino'
import type { Driver } from '../machines/driver.js'
import { isAlive, refOf, signalRef, waitReleased, type ProcessRef } from '../machines/forwarder/host-process.js'
import { writeRelayScript } from './relay-program.js'

/** What one relay serves; everything that must match for a running relay to be adopted. */
export interface RelaySpec {
  forwardId: string
  machineId: string
  /** Machine port (the relay dials 127.0.0.1:port inside the machine). */
  port: number
  listen: string
  hostPort: number
  allow: string[]
}

interface RelayRecord {
  relay: ProcessRef
  /** The process whose network namespace the relay joined (the machine's init). */
  target: ProcessRef
  machine_id: string
  port: number
  listen: string
  host_port: number
  allow: string[]
}

const READY_TIMEOUT_MS = 10_000
const KILL_WAIT_MS = 3000
const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

/** A bound forward served by a relay process. */
export interface RelayBinding {
  readonly relay: ProcessRef
  /** The relay still runs (it exits by itself when the machine's init is gone). */
  alive(): boolean
  /** Kills the relay: the port closes and its connections are cut, before this resolves. */
  close(): Promise<void>
  /** Leaves the relay running (server shutdown: it keeps serving and is adopted on the next start). */
  detach(): void
}

export class Relays {
  private script?: string
  private nsenter?: string

  constructor(
    private readonly dir: string,
    private readonly driver: Driver,
    private readonly log: Logger,
  ) {}

  /** True when the driver can place processes in a machine's network namespace. */
  get supported(): boolean {
    return typeof this.driver.netns === 'function'
  }

  /**
   * Serves `spec` with a relay: adopts the recorded one when it still runs for this machine's
   * current init and listens as asked; otherwise ends it and starts a new one. Throws (with the
   * listen error's code, e.g. EADDRINUSE) when the host port cannot be bound.
   */
  async bind(spec: RelaySpec): Promise<RelayBinding> {
    const target = await this.driver.netns!(spec.machineId)
    const rec = this.read(spec.forwardId)
    if (rec && isAlive(rec.relay) && matches(rec, spec, target)) return this.binding(spec.forwardId, rec.relay)
    if (rec) await this.kill(spec.forwardId)
    return this.binding(spec.forwardId, await this.start(spec, target))
  }

  /** Ends the recorded relay of a forward, if any, and forgets it. Idempotent. */
  async kill(forwardId: string): Promise<void> {
    const rec = this.read(forwardId)
    if (rec) {
      // SIGKILL: nothing in a relay needs an orderly exit, and "closed" must be true at once.
      signalRef(rec.relay, 'SIGKILL')
      // Until every thread is gone: only then is the host port closed (not just its main thread).
      if (!(await waitReleased(rec.relay, KILL_WAIT_MS))) throw new Error(`port relay ${rec.relay.pid} did not exit`)
    }
    fs.rmSync(this.recordPath(forwardId), { force: true })
    fs.rmSync(path.join(this.dir, `${forwardId}.log`), { force: true })
  }

  /** A recorded relay runs for this forward (for views from a process that does not serve). */
  running(forwardId: string): boolean {
    return isAlive(this.read(forwardId)?.relay)
  }

  /** Ends relays whose forward is gone or should not be bound now (start, machine stop/rm). */
  async sweep(keep: (forwardId: string, machineId: string) => boolean): Promise<void> {
    let names: string[]
    try { names = fs.readdirSync(this.dir) } catch { return }
    for (const n of names) {
      if (!n.endsWith('.json')) continue
      const id = n.slice(0, -5)
      const rec = this.read(id)
      if (!rec || !keep(id, rec.machine_id)) await this.kill(id).catch((err: Error) => this.log.warn({ forward: id, err }, 'could not end a port relay'))
    }
  }

  private binding(forwardId: string, relay: ProcessRef): RelayBinding {
    let detached = false
    return {
      relay,
      alive: () => isAlive(relay),
      close: async () => { if (!detached) await this.kill(forwardId) },
      detach: () => { detached = true },
    }
  }

  private async start(spec: RelaySpec, target: ProcessRef): Promise<ProcessRef> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    this.script ??= writeRelayScript(this.dir)
    this.nsenter ??= SEARCH.map((d) => path.join(d, 'nsenter')).find((p) => fs.existsSync(p)) ?? 'nsenter'
    let server: Server
    try {
      server = await listen(spec.listen, spec.hostPort)
    } catch (e) {
      // A relay no record names (boxd died between starting it and recording it) holds the port:
      // end it and bind again, so it is replaced rather than left unmanaged.
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !(await this.killOrphans(spec.forwardId))) throw e
      server = await listen(spec.listen, spec.hostPort)
    }
    // The listening socket's descriptor (node keeps it on the handle; Linux always has one).
    const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd
    if (typeof fd !== 'number' || fd < 0) { server.close(); throw new Error('no descriptor for the listening socket') }
    const log = fs.openSync(path.join(this.dir, `${spec.forwardId}.log`), 'a', 0o600)
    let child: ChildProcess
    try {
      child = spawn(this.nsenter, [
        `--net=/proc/${target.pid}/ns/net`, '--',
        process.execPath, '--max-old-space-size=64', this.script,
        spec.forwardId, String(target.pid), target.startTime, String(spec.port), JSON.stringify(spec.allow),
      ], {
        // fd 3 is the listening socket (a dup: closing ours below leaves the relay's open).
        stdio: ['ignore', 'pipe', log, fd],
        detached: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: '/',
      })
    } finally {
      fs.closeSync(log)
      // From here on the relay is the only holder of the host port: when it dies, the port closes.
      server.close()
    }
    child.on('error', () => { /* reported as "did not start" below */ })
    // Node's startup CPU must not compete with a machine that is booting right now (ports bind on
    // machine start): start niced; the relay returns to normal once it accepts (like the forwarder).
    try { if (child.pid) os.setPriority(child.pid, 10) } catch { /* best effort */ }
    const relay = child.pid === undefined ? undefined : refOf(child.pid)
    if (!relay) throw new Error(`could not start the port relay (${this.nsenter})`)
    // Recorded before waiting, so a boxd that dies right now still finds (and ends or adopts) it.
    this.write(spec.forwardId, {
      relay, target, machine_id: spec.machineId, port: spec.port, listen: spec.listen, host_port: spec.hostPort, allow: spec.allow,
    })
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)
      let out = ''
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready\n')) { clearTimeout(timer); resolve(true) } })
      child.once('exit', () => { clearTimeout(timer); resolve(false) })
    })
    child.stdout!.destroy()
    child.unref()
    if (!ready) {
      const tail = readTail(path.join(this.dir, `${spec.forwardId}.log`))
      await this.kill(spec.forwardId).catch(() => undefined)
      throw new Error(`the port relay did not start${tail ? `: ${tail}` : ''}`)
    }
    this.log.debug({ forward: spec.forwardId, relay: relay.pid }, 'port relay started')
    return relay
  }

  /** Kills relay processes of this forward found by command line; true when there were any. */
  private async killOrphans(forwardId: string): Promise<boolean> {
    const found: ProcessRef[] = []
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
        const at = argv.indexOf(this.script!)
        const ref = at > 0 && argv[at + 1] === forwardId ? refOf(Number(p)) : undefined
        if (ref) found.push(ref)
      } catch { /* gone, or not ours to read */ }
    }
    for (const ref of found) {
      this.log.warn({ forward: forwardId, relay: ref.pid }, 'ending a port relay no record names')
      signalRef(ref, 'SIGKILL')
      await waitReleased(ref, KILL_WAIT_MS)
    }
    return found.length > 0
  }

  private recordPath(forwardId: string): string {
    // Forward ids are ours (newId), but a path is only ever built from a safe one.
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(forwardId)) throw new Error(`bad forward id ${JSON.stringify(forwardId)}`)
    return path.join(this.dir, `${forwardId}.json`)
  }

  private read(forwardId: string): RelayRecord | undefined {
    try { return JSON.parse(fs.readFileSync(this.recordPath(forwardId), 'utf8')) as RelayRecord } catch { return undefined }
  }

  private write(forwardId: string, rec: RelayRecord): void {
    const file = this.recordPath(forwardId)
    const tmp = `${file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(rec), { mode: 0o600 })
    fs.renameSync(tmp, file)
  }
}

function matches(rec: RelayRecord, spec: RelaySpec, target: ProcessRef): boolean {
  return rec.target.pid === target.pid && rec.target.startTime === target.startTime
    && rec.machine_id === spec.machineId && rec.port === spec.port && rec.listen === spec.listen
    && rec.host_port === spec.hostPort && JSON.stringify(rec.allow) === JSON.stringify(spec.allow)
}

function listen(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen({ host, port, exclusive: true }, () => { s.off('error', reject); resolve(s) })
  })
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(-300)
  } catch {
    return ''
  }
}
