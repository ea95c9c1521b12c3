// `port open/close/ls`: forwards persisted in the store, bound only by a serving process, and
// kept in step with machine state — bound while a machine runs, closed when it stops or goes.
// A forward is served by a relay process inside the machine's network namespace when the driver
// can place one there (relays.ts: boxd binds, the relay copies), else in this process through
// Driver.connect (forwarder.ts).
import { randomInt } from 'node:crypto'
import { createServer } from 'node:net'
import type { Logger } from 'pino'
import { CommandError, conflict, notFound, usage } from '../errors.js'
import type { MachineService } from '../machines/service.js'
import type { Clock } from '../services.js'
import type { MachineRow, PortForwardRow, Store } from '../store/index.js'
import { newId } from '../store/ids.js'
import { ALLOW_ALL, AllowList, parseCidr } from './cidr.js'
import { Forwarder } from './forwarder.js'
import { Relays, type RelayBinding } from './relays.js'

export interface PortOptions {
  /** Address the forwarded host ports listen on (`--ports-listen`, default the server's --listen). */
  listen: string
  /** Host ports `port open` may use (`--port-range`, default 20000-29999). */
  range: { from: number; to: number }
  /** Where relay records live (`<data dir>/ports`); without it every forward is served in-process. */
  stateDir?: string
}

/** Why a forward is not bound; hostPort: the host port could not be bound (taken, not allowed). */
interface Failure { reason: string; hostPort: boolean }

/** How often a serving process checks that its relays still run (one found dead is started again). */
const RELAY_WATCH_MS = 2000

export const DEFAULT_PORT_RANGE = { from: 20000, to: 29999 } as const

// Bounds: forwards per account, and host ports tried when picking a free one.
export const MAX_FORWARDS_PER_USER = 64
const PICK_ATTEMPTS = 32

export type PortState = 'listening' | 'inactive' | 'failed'

export interface PortView {
  machine: string
  port: number
  host_port: number
  listen: string
  to: string[]
  /** listening: bound now; inactive: the machine is not running (or no server is serving); failed: could not bind (see reason). */
  state: PortState
  reason?: string
  created_at: string
}

export class PortService {
  private readonly live = new Map<string, Forwarder | RelayBinding>() // forward id → bound listener or relay
  private readonly failures = new Map<string, Failure>()     // forward id → why it is not bound
  private readonly forwardMachine = new Map<string, string>() // forward id → machine id
  private readonly locks = new Map<string, Promise<unknown>>()
  private serving = false
  private unsubscribe?: () => void
  private readonly relays?: Relays
  private watch?: NodeJS.Timeout

  constructor(
    private readonly store: Store,
    private readonly machines: MachineService,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly options: PortOptions,
  ) {
    const { from, to } = options.range
    if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 1 && from <= to && to <= 65535)) {
      throw new Error(`port range ${from}-${to} is not a range of ports (1-65535, low-high)`)
    }
    const relays = options.stateDir ? new Relays(options.stateDir, machines.driver, log) : undefined
    if (relays?.supported) this.relays = relays
  }

  // ---- verbs ----

  async open(m: MachineRow, port: number, req: { hostPort?: number; to: string[] }): Promise<PortView> {
    const { from, to } = this.options.range
    // Security gate: host ports come only from the operator's range, so a user can never take
    // a port boxd or another service on this host means to use.
    if (req.hostPort !== undefined && (req.hostPort < from || req.hostPort > to)) {
      throw usage(`host port ${req.hostPort} is outside this server's port range ${from}-${to}`, 'leave out --host-port to get a free one')
    }
    const allow = req.to.length === 0 ? [...ALLOW_ALL] : [...new Set(req.to.map(parseCidr))]
    return this.locked(m.id, async () => {
      if (this.store.ports.get(m.id, port)) throw conflict(`port ${port} of ${m.name} is already forwarded`, `see \`port ls ${m.name}\`; \`port close ${m.name} ${port}\` first to change it`)
      if (this.store.ports.countForUser(m.user_id) >= MAX_FORWARDS_PER_USER) {
        throw new CommandError('quota_exceeded', `you have ${MAX_FORWARDS_PER_USER} forwarded ports, the most this server allows`, { hint: 'close one with `port close <machine> <port>`' })
      }
      const candidates = req.hostPort !== undefined ? [req.hostPort] : this.candidates()
      for (const hostPort of candidates) {
        const row: PortForwardRow = { id: newId('fwd'), machine_id: m.id, port, host_port: hostPort, allow: JSON.stringify(allow), created_at: this.clock.now().toISOString() }
        try {
          this.store.tx(() => {
            if (this.store.ports.byHostPort(hostPort)) throw conflict(`host port ${hostPort} is already forwarded`, 'leave out --host-port to get a free one')
            this.store.ports.insert(row)
          })
        } catch (e) {
          if (req.hostPort === undefined && e instanceof CommandError && e.code === 'conflict') continue
          throw e
        }
        const problem = await this.activate(row, m)
        if (problem === undefined) return this.view(row, m)
        // The host port is fine but the machine side is not (its relay could not start): the
        // forward stays, reported as failed with the reason, and is tried again on the next start.
        if (!problem.hostPort) return this.view(row, m)
        this.store.ports.delete(row.id)
        this.failures.delete(row.id)
        if (req.hostPort !== undefined) throw conflict(`host port ${hostPort} is in use on ${this.options.listen}: ${problem.reason}`, 'leave out --host-port to get a free one')
      }
      throw conflict(`no free host port found in ${from}-${to}`, 'close some with `port close`, or ask the operator for a wider --port-range')
    })
  }

  async close(m: MachineRow, port: number): Promise<PortView> {
    return this.locked(m.id, async () => {
      const row = this.store.ports.get(m.id, port)
      if (!row) throw notFound(`port ${port} of ${m.name} is not forwarded`, `see \`port ls ${m.name}\``)
      // Row first: a serving process that sees the relay die (this one may be `boxd run`) finds no
      // forward to start it again for.
      this.store.ports.delete(row.id)
      await this.unbind(row.id)
      return { ...this.view(row, m), state: 'inactive' }
    })
  }

  /** The forwards of these machines (already filtered to the caller's). */
  list(rows: MachineRow[]): PortView[] {
    return rows.flatMap((m) => this.store.ports.forMachine(m.id).map((f) => this.view(f, m)))
  }

  // ---- serving: only a running server binds ----

  /** Server start: bind the forwards of running machines (adopting their relays), then follow machine state. */
  async start(): Promise<void> {
    this.serving = true
    this.unsubscribe = this.machines.onStateChange((row, state) => {
      void this.locked(row.id, () => (state === 'running' ? this.bindMachine(row) : this.unbindMachine(row.id)))
    })
    await this.sweepRelays()
    for (const m of this.store.machines.all()) {
      if (m.status === 'running') await this.locked(m.id, () => this.bindMachine(m))
    }
    if (this.relays) {
      this.watch = setInterval(() => this.rebindDeadRelays(), RELAY_WATCH_MS)
      this.watch.unref()
    }
  }

  /**
   * Server shutdown. In-process listeners close; relays keep serving (like the machines, they
   * outlive boxd) and the next start adopts them.
   */
  async stop(): Promise<void> {
    this.serving = false
    this.unsubscribe?.()
    clearInterval(this.watch)
    await Promise.allSettled([...this.locks.values()])
    for (const fwd of this.live.values()) if (!(fwd instanceof Forwarder)) fwd.detach()
    await Promise.all([...this.live.keys()].map((id) => this.unbind(id, { keepRelay: true })))
    this.failures.clear()
  }

  /** Bound listeners, for the banner and tests. */
  get listening(): number {
    return this.live.size
  }

  // ---- helpers ----

  private view(f: PortForwardRow, m: MachineRow): PortView {
    const host = this.options.listen.includes(':') ? `[${this.options.listen}]` : this.options.listen
    const reason = this.failures.get(f.id)?.reason
    // A process that does not serve still sees a relay that runs (relays outlive the server).
    const listening = this.live.has(f.id) || (!this.serving && !!this.relays?.running(f.id))
    const state: PortState = listening ? 'listening' : reason ? 'failed' : 'inactive'
    return {
      machine: m.name, port: f.port, host_port: f.host_port, listen: `${host}:${f.host_port}`,
      to: JSON.parse(f.allow) as string[], state, ...(state === 'failed' ? { reason } : {}), created_at: f.created_at,
    }
  }

  /** Bind now if this process serves and the machine runs; returns why binding failed, if it did. */
  private async activate(row: PortForwardRow, m: MachineRow): Promise<Failure | undefined> {
    if (!this.serving) return undefined
    if (this.store.machines.get(m.id)?.status === 'running') {
      await this.bind(row, m)
      return this.failures.get(row.id)
    }
    // Not running: still make sure the port is free now, so `port open` says so at once.
    const reason = await probe(this.options.listen, row.host_port)
    return reason === undefined ? undefined : { reason, hostPort: true }
  }

  private async bindMachine(m: MachineRow): Promise<void> {
    if (!this.serving) return
    for (const row of this.store.ports.forMachine(m.id)) await this.bind(row, m)
  }

  private async unbindMachine(machineId: string): Promise<void> {
    for (const id of [...this.live.keys()]) {
      if (this.forwardMachine.get(id) === machineId) await this.unbind(id)
    }
    for (const id of [...this.failures.keys()]) if (this.forwardMachine.get(id) === machineId) this.failures.delete(id)
    // Relays of this machine that were not bound here (a failed adoption; rm already deleted the rows).
    await this.sweepRelays()
  }

  private async bind(row: PortForwardRow, m: MachineRow): Promise<void> {
    if (this.live.has(row.id)) return
    const label = `${m.name}:${row.port}←${row.host_port}`
    const allow = JSON.parse(row.allow) as string[]
    this.forwardMachine.set(row.id, m.id)
    try {
      if (this.relays) {
        this.live.set(row.id, await this.relays.bind({ forwardId: row.id, machineId: m.id, port: row.port, listen: this.options.listen, hostPort: row.host_port, allow }))
      } else {
        const fwd = new Forwarder(new AllowList(allow), () => this.machines.driver.connect(m.id, row.port), this.log, label)
        await fwd.listen(this.options.listen, row.host_port)
        this.live.set(row.id, fwd)
      }
      this.failures.delete(row.id)
    } catch (e) {
      // An errno code is the host port's (listen); anything else is the machine side's.
      const err = e as NodeJS.ErrnoException
      const reason = err.code === 'EADDRINUSE' ? 'address in use' : err.code ?? err.message
      this.failures.set(row.id, { reason, hostPort: err.code !== undefined })
      this.log.warn({ forward: label, reason }, 'could not bind a forwarded port')
    }
  }

  /** Closes a forward's listener or kills its relay (also one this process did not start). */
  private async unbind(id: string, o: { keepRelay?: boolean } = {}): Promise<void> {
    const fwd = this.live.get(id)
    this.live.delete(id)
    this.failures.delete(id)
    this.forwardMachine.delete(id)
    await fwd?.close()
    if (!o.keepRelay) await this.relays?.kill(id)
  }

  /** Ends relays whose forward is gone or whose machine is not running. */
  private async sweepRelays(): Promise<void> {
    await this.relays?.sweep((id, machineId) => this.store.machines.get(machineId)?.status === 'running'
      && this.store.ports.forMachine(machineId).some((r) => r.id === id))
  }

  /** A relay that died while its machine runs (killed by hand, crashed) is started again. */
  private rebindDeadRelays(): void {
    for (const [id, fwd] of this.live) {
      if (fwd instanceof Forwarder || fwd.alive()) continue
      const machineId = this.forwardMachine.get(id)
      if (!machineId) continue
      void this.locked(machineId, async () => {
        const cur = this.live.get(id)
        if (!this.serving || cur !== fwd) return
        this.live.delete(id)
        const m = this.store.machines.get(machineId)
        const row = m && this.store.ports.forMachine(machineId).find((r) => r.id === id)
        if (m?.status !== 'running' || !row) return
        this.log.warn({ forward: id }, 'a port relay exited; starting it again')
        await this.bind(row, m)
      })
    }
  }

  /** Free host ports to try, from a random start in the range (bounded). */
  private *candidates(): Generator<number> {
    const { from, to } = this.options.range
    const size = to - from + 1
    const start = randomInt(size)
    for (let i = 0, tried = 0; i < size && tried < PICK_ATTEMPTS; i++) {
      const p = from + ((start + i) % size)
      if (this.store.ports.byHostPort(p)) continue
      tried++
      yield p
    }
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.locks.set(id, next)
    void next.finally(() => { if (this.locks.get(id) === next) this.locks.delete(id) }).catch(() => {})
    return next
  }
}

/** Is host:port free to bind right now? Returns why not, or undefined. */
function probe(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE' ? 'address in use' : e.code ?? e.message))
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(undefined)))
  })
}
