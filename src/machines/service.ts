// The machine layer as verbs see it: the DB records intent, the Driver is reality, and this
// service keeps them in step — per machine one operation at a time, and reconciliation on start.
import type { Logger } from 'pino'
import type { Principal } from '../auth/principal.js'
import { globMatch, machineAllowed } from '../auth/permissions.js'
import { CommandError, conflict, notFound, usage, type ErrorCode } from '../errors.js'
import type { Clock, Config } from '../services.js'
import type { MachineRow, MachineSpecJson, Store } from '../store/index.js'
import { newId } from '../store/ids.js'
import { DriverError, type Driver, type DriverErrorReason, type DriverStatus, type ExecOptions, type ExecProcess, type MachineSpec } from './driver.js'
import { generateName, machineNameProblem } from './names.js'

export interface MachineOptions {
  maxMachines: number
  allowHostNetwork: boolean
  defaultImage: string
}

export interface NewMachine {
  name?: string
  image?: string
  env: string[]
  cpu?: number
  memoryBytes?: number
  tags: string[]
  comment?: string
  command?: string
  network: 'none' | 'host'
}

/** A machine event for the outbox (machine.created, machine.running, …). */
export type MachineEventSink = (type: string, row: MachineRow, data?: Record<string, unknown>) => void

/** A machine's status after a committed change, or 'deleted' once its row is gone. */
export type MachineStateListener = (row: MachineRow, state: MachineRow['status'] | 'deleted') => void

/** How a driver's refusal reads to the caller (a bad image is the caller's mistake; an engine down is not). */
const DRIVER_CODES: Record<DriverErrorReason, ErrorCode> = {
  missing: 'not_found', exists: 'conflict', running: 'conflict', not_running: 'conflict', refused: 'failed', invalid: 'usage', unavailable: 'failed',
}

const TAG_RE = /^[a-z0-9][a-z0-9_.-]{0,31}$/

export class MachineService {
  private readonly locks = new Map<string, Promise<unknown>>()
  /** Set by the events service when present; called inside the state change's transaction. */
  onEvent: MachineEventSink = () => {}
  private readonly stateListeners = new Set<MachineStateListener>()

  constructor(
    private readonly store: Store,
    readonly driver: Driver,
    private readonly clock: Clock,
    private readonly config: Config,
    private readonly log: Logger,
    readonly options: MachineOptions,
  ) {}

  /**
   * Follow machine state from outside (port forwards bind when a machine runs, close when it
   * stops or goes). Called after the change is committed; a listener's failure is only logged.
   */
  onStateChange(listener: MachineStateListener): () => void {
    this.stateListeners.add(listener)
    return () => this.stateListeners.delete(listener)
  }

  // ---- look-ups: a machine that is not yours does not exist ----

  /** The caller's machine by name, or not_found (never forbidden, never a hint that it exists). */
  owned(principal: Principal, name: string): MachineRow {
    const row = this.store.machines.byName(name)
    if (!row || row.user_id !== principal.user.id || !machineAllowed(principal, name)) {
      throw notFound(`machine "${name}" not found`, 'run `ls` to list your machines')
    }
    return row
  }

  /** The caller's machines whose name or a tag matches one of the globs (all when none given). */
  list(principal: Principal, patterns: string[]): MachineRow[] {
    const rows = this.store.machines.listForUser(principal.user.id).filter((r) => machineAllowed(principal, r.name))
    if (patterns.length === 0) return rows
    return rows.filter((r) => {
      const tags = JSON.parse(r.tags) as string[]
      return patterns.some((g) => globMatch(g, r.name) || tags.some((t) => globMatch(g, t)))
    })
  }

  // ---- lifecycle ----

  /** Validate and record a new machine (intent), synchronously: errors answer before any work starts. */
  reserve(principal: Principal, req: NewMachine): MachineRow {
    const userId = principal.user.id
    const image = req.image ?? this.options.defaultImage
    if (req.network === 'host' && !this.options.allowHostNetwork) {
      throw new CommandError('forbidden', '--network host is not allowed on this server', { hint: 'the operator can allow it with `boxd serve --allow-host-network`' })
    }
    const env = parseEnv(req.env)
    const tags = checkTags(req.tags)
    if (req.name !== undefined) { const bad = machineNameProblem(req.name); if (bad) throw usage(bad) }
    if (req.name === undefined && principal.token?.claims.machines) {
      throw usage('this token may only act on some machine names: pass --name', `allowed: ${principal.token.claims.machines.join(', ')}`)
    }
    const spec: MachineSpecJson = { env, network: req.network, ...(req.cpu ? { cpu: req.cpu } : {}), ...(req.memoryBytes ? { memory_bytes: req.memoryBytes } : {}), ...(req.command ? { command: req.command } : {}) }
    const now = this.clock.now().toISOString()

    // Quota and name are decided in one IMMEDIATE transaction: concurrent `new`s serialize here,
    // and the UNIQUE name constraint makes exactly one of two same-name requests win.
    return this.store.tx(() => {
      if (this.store.machines.countForUser(userId) >= this.options.maxMachines) {
        throw new CommandError('quota_exceeded', `you have ${this.options.maxMachines} machines, the most this server allows`, { hint: 'remove one with `rm <name>`' })
      }
      let name = req.name
      for (let i = 0; name === undefined && i < 20; i++) { const n = generateName(); if (!this.store.machines.byName(n)) name = n }
      if (name === undefined) throw conflict('could not find a free machine name', 'pass --name')
      if (this.store.machines.byName(name)) throw conflict(`machine name "${name}" is taken`, 'choose another with --name')
      const r: MachineRow = {
        id: newId('m'), name, user_id: userId, driver: this.driver.name, image, desired: 'running', status: 'creating', status_reason: null,
        spec: JSON.stringify(spec), tags: JSON.stringify(tags), comment: req.comment ?? '', proxy_port: 8000, created_at: now, started_at: null, updated_at: now,
      }
      this.store.machines.insert(r)
      this.onEvent('machine.created', r)
      return r
    })
  }

  /** Make a reserved machine real and running; on failure nothing of it is left. */
  provision(row: MachineRow, progress: (msg: string) => void = () => {}): Promise<MachineRow> {
    return this.locked(row.id, async () => {
      try {
        progress(`creating ${row.name} (${row.image})`)
        await this.driver.create(this.specOf(row))
        progress(`starting ${row.name}`)
        await this.driver.start(this.specOf(row))
      } catch (e) {
        // No half-made machine survives a failed `new`: remove what the driver made, then the row.
        // A bad image or name is the caller's mistake, not the operator's concern.
        if (e instanceof DriverError && e.reason === 'invalid') this.log.info({ machine: row.name, reason: errMsg(e) }, 'create refused')
        else this.log.warn({ err: e, machine: row.name }, 'create failed')
        await this.driver.remove(row.id).catch((err) => this.log.error({ err, machine: row.name }, 'cleanup after failed create'))
        this.store.tx(() => { this.store.machines.delete(row.id); this.onEvent('machine.failed', row, { reason: errMsg(e) }) })
        throw this.driverError(`could not create ${row.name}`, e)
      }
      return this.setStatus(row, 'running', { started_at: this.clock.now().toISOString() }, 'machine.running')
    })
  }

  async create(principal: Principal, req: NewMachine, progress?: (msg: string) => void): Promise<MachineRow> {
    return this.provision(this.reserve(principal, req), progress)
  }

  /** Every machine of a user, driver resources included (`user rm`); returns how many went. */
  async removeAllFor(userId: string): Promise<number> {
    let n = 0
    for (const row of this.store.machines.listForUser(userId)) {
      await this.remove(row)
      n++
    }
    return n
  }

  async start(row: MachineRow): Promise<MachineRow> {
    return this.locked(row.id, async () => {
      const cur = this.fresh(row)
      this.store.machines.update(cur.id, { desired: 'running' }, this.clock.now())
      try {
        await this.driver.start(this.specOf(cur))
      } catch (e) {
        this.setStatus(cur, 'failed', { status_reason: errMsg(e) }, 'machine.failed')
        throw this.driverError(`could not start ${cur.name}`, e)
      }
      return cur.status === 'running' ? this.fresh(cur) : this.setStatus(cur, 'running', { started_at: this.clock.now().toISOString(), status_reason: null }, 'machine.running')
    })
  }

  async stop(row: MachineRow): Promise<MachineRow> {
    return this.locked(row.id, async () => {
      const cur = this.fresh(row)
      this.store.machines.update(cur.id, { desired: 'stopped', status: 'stopping' }, this.clock.now())
      try {
        await this.driver.stop(cur.id)
      } catch (e) {
        this.setStatus(cur, 'failed', { status_reason: errMsg(e) }, 'machine.failed')
        throw this.driverError(`could not stop ${cur.name}`, e)
      }
      return this.setStatus(cur, 'stopped', { started_at: null, status_reason: null }, 'machine.stopped')
    })
  }

  async remove(row: MachineRow): Promise<void> {
    await this.locked(row.id, async () => {
      const cur = this.store.machines.get(row.id)
      if (!cur) throw notFound(`machine "${row.name}" not found`)
      try {
        await this.driver.remove(cur.id)
      } catch (e) {
        throw this.driverError(`could not remove ${cur.name}`, e)
      }
      this.store.tx(() => { this.store.machines.delete(cur.id); this.onEvent('machine.deleted', cur) })
      this.emitState(cur, 'deleted')
    })
    this.locks.delete(row.id)
  }

  async rebuild(row: MachineRow): Promise<MachineRow> {
    const wasRunning = this.fresh(row).desired === 'running'
    await this.locked(row.id, async () => {
      const cur = this.fresh(row)
      try {
        await this.driver.stop(cur.id)
        await this.driver.rebuild(this.specOf(cur))
      } catch (e) {
        this.setStatus(cur, 'failed', { status_reason: errMsg(e) }, 'machine.failed')
        throw this.driverError(`could not rebuild ${cur.name}`, e)
      }
      this.setStatus(cur, 'stopped', { started_at: null }, 'machine.stopped')
    })
    return wasRunning ? this.start(row) : this.fresh(row)
  }

  rename(row: MachineRow, newName: string): MachineRow {
    const bad = machineNameProblem(newName)
    if (bad) throw usage(bad)
    return this.store.tx(() => {
      if (this.store.machines.byName(newName)) throw conflict(`machine name "${newName}" is taken`)
      this.store.machines.update(row.id, { name: newName }, this.clock.now())
      return this.fresh(row)
    })
  }

  setTags(row: MachineRow, add: string[], remove: string[]): MachineRow {
    const tags = new Set(JSON.parse(row.tags) as string[])
    for (const t of checkTags(add)) tags.add(t)
    for (const t of remove) tags.delete(t)
    this.store.machines.update(row.id, { tags: JSON.stringify([...tags].sort()) }, this.clock.now())
    return this.fresh(row)
  }

  setComment(row: MachineRow, comment: string): MachineRow {
    this.store.machines.update(row.id, { comment }, this.clock.now())
    return this.fresh(row)
  }

  status(row: MachineRow): Promise<DriverStatus> {
    return this.driver.status(row.id)
  }

  /** A process inside a running machine (SSH machine sessions). */
  async exec(row: MachineRow, opts: ExecOptions): Promise<ExecProcess> {
    this.requireRunning(row)
    return this.driver.exec(row.id, opts)
  }

  requireRunning(row: MachineRow): void {
    const cur = this.fresh(row)
    if (cur.status !== 'running') {
      throw conflict(`machine ${cur.name} is ${cur.status}`, cur.status === 'stopped' ? `start it with \`start ${cur.name}\`` : undefined)
    }
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      await this.driver.check()
      return { ok: true }
    } catch (e) {
      return { ok: false, detail: errMsg(e) }
    }
  }

  // ---- reconciliation: no orphans, no ghosts ----

  /**
   * Bring reality in line with intent. Driver machines with no row are removed (orphans, e.g. a
   * crash mid-`new`); rows are started or stopped as desired, and marked failed when that fails.
   */
  async reconcile(): Promise<{ orphans_removed: string[]; started: string[]; stopped: string[]; failed: string[] }> {
    const report = { orphans_removed: [] as string[], started: [] as string[], stopped: [] as string[], failed: [] as string[] }
    const rows = this.store.machines.all().filter((r) => r.driver === this.driver.name)
    const known = new Set(rows.map((r) => r.id))
    for (const id of await this.driver.list()) {
      if (known.has(id)) continue
      this.log.warn({ id }, 'removing orphan machine with no database row')
      await this.driver.remove(id).then(() => report.orphans_removed.push(id), (err) => this.log.error({ err, id }, 'orphan removal failed'))
    }
    for (const row of rows) {
      await this.locked(row.id, async () => {
        const cur = this.store.machines.get(row.id)
        if (!cur) return
        const st = await this.driver.status(cur.id).catch(() => ({ state: 'missing' as const }))
        try {
          if (cur.desired === 'running' && st.state !== 'running') {
            if (st.state === 'missing') await this.driver.create(this.specOf(cur))
            await this.driver.start(this.specOf(cur))
            report.started.push(cur.name)
            this.setStatus(cur, 'running', { started_at: this.clock.now().toISOString(), status_reason: null }, 'machine.running')
          } else if (cur.desired === 'stopped' && st.state === 'running') {
            await this.driver.stop(cur.id)
            report.stopped.push(cur.name)
            this.setStatus(cur, 'stopped', { started_at: null }, 'machine.stopped')
          } else {
            const status = cur.desired === 'running' ? 'running' : 'stopped'
            if (cur.status !== status) this.setStatus(cur, status, { status_reason: null }, `machine.${status}`)
          }
        } catch (e) {
          report.failed.push(cur.name)
          this.setStatus(cur, 'failed', { status_reason: errMsg(e) }, 'machine.failed')
        }
      })
    }
    return report
  }

  // ---- helpers ----

  specOf(row: MachineRow): MachineSpec {
    const s = JSON.parse(row.spec) as MachineSpecJson
    return { id: row.id, name: row.name, image: row.image, env: s.env, cpu: s.cpu, memoryBytes: s.memory_bytes, network: s.network, command: s.command }
  }

  private fresh(row: MachineRow): MachineRow {
    const cur = this.store.machines.get(row.id)
    if (!cur) throw notFound(`machine "${row.name}" not found`)
    return cur
  }

  private setStatus(row: MachineRow, status: MachineRow['status'], patch: Partial<MachineRow>, event: string): MachineRow {
    const cur = this.store.tx(() => {
      this.store.machines.update(row.id, { ...patch, status }, this.clock.now())
      const cur = this.fresh(row)
      if (row.status !== status) this.onEvent(event, cur, patch.status_reason ? { reason: patch.status_reason } : undefined)
      return cur
    })
    if (row.status !== status) this.emitState(cur, status)
    return cur
  }

  private emitState(row: MachineRow, state: MachineRow['status'] | 'deleted'): void {
    for (const l of this.stateListeners) {
      try {
        l(row, state)
      } catch (err) {
        this.log.error({ err, machine: row.name }, 'machine state listener failed')
      }
    }
  }

  /** One operation per machine at a time; others queue behind it. */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.locks.set(id, next)
    return next
  }

  private driverError(what: string, e: unknown): CommandError {
    if (e instanceof CommandError) return e
    return new CommandError(e instanceof DriverError ? DRIVER_CODES[e.reason] : 'failed', `${what}: ${errMsg(e)}`)
  }
}

function errMsg(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300)
}

function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const p of pairs) {
    const eq = p.indexOf('=')
    const k = eq < 0 ? p : p.slice(0, eq)
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) throw usage(`--env "${p.slice(0, 40)}": expected NAME=VALUE`)
    env[k] = p.slice(eq + 1)
  }
  return env
}

function checkTags(tags: string[]): string[] {
  for (const t of tags) if (!TAG_RE.test(t)) throw usage(`bad tag "${t.slice(0, 40)}"`, 'tags are 1–32 of a-z 0-9 _ . -')
  return tags
}
