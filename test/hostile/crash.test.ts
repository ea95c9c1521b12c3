// Crash: `kill -9` of the real `boxd serve` (sandbox driver) while 50 `new`s are in flight over
// the real ssh client; restart; reconciliation at start must leave the record and reality equal.
// Reality is read here without asking boxd: machine directories under <dataDir>/machines, and
// processes found in /proc — a machine's init (`/dev/.boxd/init`, whose mount table names the
// machine's directory) and its forwarder (whose network namespace binds <dir>/fwd.sock).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeKey, waitFor, type KeyFiles } from '../helpers/ssh.js'
import { NO_RATE_LIMITS, startServe, type ServeProcess } from '../helpers/serve.js'

const N = 50
/** The kill comes right after this many `new`s have answered: the rest are still in flight. */
const KILL_AFTER = 12
const skip = process.getuid?.() === 0 ? undefined : 'the sandbox driver needs root'
if (skip) console.log(`[crash] skipping: ${skip}`)

interface Row { id: string; name: string; status: string; desired: string }

interface Reality {
  /** Entries of <dataDir>/machines (dot entries are staging/trash debris). */
  dirs: string[]
  /** machine id → pids of its init process(es). */
  inits: Map<string, number[]>
  /** machine id → pids of its forwarder(s). */
  forwarders: Map<string, number[]>
}

function rows(dataDir: string): Row[] {
  const db = new Database(join(dataDir, 'boxd.db'), { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT id, name, status, desired FROM machines ORDER BY name').all() as Row[]
  } finally {
    db.close()
  }
}

const read = (f: string) => { try { return readFileSync(f, 'utf8') } catch { return '' } }

function reality(dataDir: string): Reality {
  const machines = join(dataDir, 'machines')
  const idIn = new RegExp(`${machines.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/([A-Za-z0-9_-]+)/`)
  const inits = new Map<string, number[]>()
  const forwarders = new Map<string, number[]>()
  const add = (m: Map<string, number[]>, id: string, pid: number) => m.set(id, [...(m.get(id) ?? []), pid])
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    const pid = Number(p)
    if (read(`/proc/${p}/cmdline`).startsWith('/dev/.boxd/init\0')) {
      const id = idIn.exec(read(`/proc/${p}/mountinfo`))?.[1]
      if (id) add(inits, id, pid)
    } else if (read(`/proc/${p}/comm`).trim() === 'boxd-forwarder') {
      const id = idIn.exec(read(`/proc/${p}/net/unix`))?.[1]
      if (id) add(forwarders, id, pid)
    }
  }
  return { dirs: existsSync(machines) ? readdirSync(machines).sort() : [], inits, forwarders }
}

describe.skipIf(Boolean(skip))('crash: kill -9 during 50 concurrent `new` (sandbox, real binary)', () => {
  let dir: string
  let dataDir: string
  let key: KeyFiles
  let server: ServeProcess | undefined
  const start = async (first = false) => {
    server = await startServe({ dataDir, admin: first ? { key, email: 'crash@example.com' } : undefined, args: [...NO_RATE_LIMITS, '--max-machines', String(2 * N)] })
    return server
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'boxd-crash-'))
    dataDir = join(dir, 'data')
    key = makeKey(dir, 'ed25519', 'crash')
  })

  afterAll(async () => {
    // Leave nothing behind, even after a failure: every machine removed through boxd.
    try {
      if (!server || server.child.exitCode !== null || server.child.signalCode !== null) await start()
      const names = rows(dataDir).map((r) => r.name)
      if (names.length) await server!.ssh(key, `rm ${names.join(' ')}`, { timeoutMs: 120_000 })
    } finally {
      await server?.stop()
      // Last resort for a run that failed before boxd could clean up: the machines this file made.
      const left = reality(dataDir)
      for (const pids of [...left.inits.values(), ...left.forwarders.values()]) for (const pid of pids) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)

  it('after restart: every row is a real machine in its recorded state, every real machine has a row (0 orphans, 0 ghosts), no answered `new` lost', async () => {
    const first = await start(true)
    const tBurst = Date.now()
    const answered: string[] = []
    let killedWhenInFlight = -1
    const names = Array.from({ length: N }, (_, i) => `crash${i}`)
    const results = await Promise.all(names.map(async (name) => {
      const r = await first.ssh(key, `new --name=${name} --json`, { timeoutMs: 150_000 })
      if (r.code === 0) {
        // The server answered: this row is committed, whatever happens next.
        expect(JSON.parse(r.stdout)).toMatchObject({ name, status: 'running' })
        answered.push(name)
        if (answered.length === KILL_AFTER) {
          killedWhenInFlight = N - answered.length
          console.log(`[crash] kill -9 at ${Date.now() - tBurst} ms into the burst`)
          first.child.kill('SIGKILL')
        }
      }
      return r
    }))
    const interrupted = results.filter((r) => r.code !== 0)
    if (killedWhenInFlight < 0) first.child.kill('SIGKILL') // never reached the kill: fail below, with why
    expect(killedWhenInFlight, `only ${answered.length} \`new\` answered; e.g. ${JSON.stringify(interrupted[0])}`).toBeGreaterThan(0)
    expect(await first.exited).toBe('SIGKILL')
    const before = { rows: rows(dataDir), reality: reality(dataDir) }
    console.log(`[crash] killed with ${killedWhenInFlight} of ${N} in flight; ${answered.length} answered ok, ${interrupted.length} cut off; `
      + `at the kill: ${before.rows.length} rows (${before.rows.filter((r) => r.status !== 'running').length} not running), `
      + `${before.reality.dirs.filter((d) => !d.startsWith('.')).length} machine dirs (+ ${before.reality.dirs.filter((d) => d.startsWith('.')).length} being staged), ${before.reality.inits.size} running inits`)
    // The crash really came mid-way: some `new`s were cut off, not all answered first.
    expect(interrupted.length).toBeGreaterThanOrEqual(5)
    for (const r of interrupted) expect(r.code, r.stderr).toBe(255) // the connection died; not a boxd error

    const t0 = Date.now()
    const again = await start() // the SSH door opens only after reconciliation at start
    console.log(`[crash] restart + reconciliation: ${Date.now() - t0} ms`)

    const db = rows(dataDir)
    const real = reality(dataDir)
    const ids = new Set(db.map((r) => r.id))
    // No committed row lost.
    for (const name of answered) expect(db.map((r) => r.name), `answered \`new --name=${name}\` lost`).toContain(name)
    // Staging debris of the creates the kill cut off (`.creating-<id>-…`) is no machine: the driver
    // lists only committed directories, and sweeps debris older than an hour at a later start.
    // It must belong to a `new` that has a row — never a machine of its own.
    const debris = real.dirs.filter((d) => d.startsWith('.'))
    for (const d of debris) expect(ids.has(/^\.creating-([A-Za-z0-9_]+)-[0-9a-f]+$/.exec(d)?.[1] ?? ''), `unexpected debris ${d}`).toBe(true)
    // Every real machine has a row: no orphan directory, init or forwarder. (Soft: one run reports
    // every broken invariant, and still checks that rm cleans up after it.)
    const machineDirs = real.dirs.filter((d) => !d.startsWith('.'))
    expect.soft(machineDirs.filter((d) => !ids.has(d)), 'orphan machine dirs').toEqual([])
    expect.soft([...real.inits.keys()].filter((id) => !ids.has(id)), 'orphan inits').toEqual([])
    expect.soft([...real.forwarders.keys()].filter((id) => !ids.has(id)), 'orphan forwarders').toEqual([])
    // Every row is real, in the state it records: running ⇔ exactly one init (and ≤ 1 forwarder).
    for (const r of db) {
      const what = `${r.name} (${r.id})`
      expect.soft(r.status, what).toBe(r.desired)
      expect.soft(machineDirs, `${what}: ghost row, no machine dir`).toContain(r.id)
      const recorded = (JSON.parse(read(join(dataDir, 'machines', r.id, 'run.json')) || '{}') as { init?: { pid: number } }).init?.pid
      expect.soft(real.inits.get(r.id)?.length ?? 0, `${what}: init processes ${JSON.stringify(real.inits.get(r.id) ?? [])}, run.json records ${recorded}`).toBe(r.status === 'running' ? 1 : 0)
      expect.soft(real.forwarders.get(r.id)?.length ?? 0, `${what}: forwarders`).toBeLessThanOrEqual(r.status === 'running' ? 1 : 0)
    }
    // And boxd agrees, through its own door: ls lists exactly these, each running for the driver too.
    const ls = await again.ssh(key, 'ls --json')
    expect(ls.code, ls.stderr).toBe(0)
    expect(JSON.parse(ls.stdout).machines.map((m: { name: string }) => m.name).sort()).toEqual(db.map((r) => r.name).sort())
    // Real means usable: every machine answers `ssh <name>@host hostname` with its own name.
    const tUse = Date.now()
    const queue = [...db]
    await Promise.all(Array.from({ length: 6 }, async () => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        const h = await again.ssh(key, 'hostname', { user: r.name, timeoutMs: 30_000 })
        expect({ name: r.name, code: h.code, out: h.stdout.trim() }, h.stderr).toEqual({ name: r.name, code: 0, out: r.name })
      }
    }))
    console.log(`[crash] ${db.length} machines answered ssh in ${Date.now() - tUse} ms`)
    console.log(`[crash] after restart: ${db.length} rows = ${machineDirs.length} machine dirs (+ ${debris.length} staging debris) = ${real.inits.size} running inits; all ${answered.length} answered present`)

    // rm through boxd leaves nothing: no dir, no process, no cgroup of any of them.
    const cgroups = db.flatMap((r) => (JSON.parse(read(join(dataDir, 'machines', r.id, 'run.json')) || '{"cgroup":{"dirs":[]}}').cgroup.dirs as string[]))
    const tRm = Date.now()
    const rm = await again.ssh(key, `rm ${db.map((r) => r.name).join(' ')} --json`, { timeoutMs: 120_000 })
    expect(rm.code, rm.stderr).toBe(0)
    const removed = JSON.parse(rm.stdout) as { deleted: string[]; failed: unknown[] }
    expect({ deleted: [...removed.deleted].sort(), failed: removed.failed }).toEqual({ deleted: db.map((r) => r.name).sort(), failed: [] })
    console.log(`[crash] rm of ${db.length} machines: ${Date.now() - tRm} ms`)
    // Processes get a moment to exit: rm signals a machine's forwarder and does not wait for it.
    const gone = () => { const r = reality(dataDir); return r.inits.size + r.forwarders.size === 0 ? r : undefined }
    await waitFor(gone, 'the machines\' processes to exit', 10_000).catch(() => undefined)
    const after = reality(dataDir)
    // Staging dirs of the cut-off creates included: rm (or the re-create at reconcile) sweeps them.
    expect({ rows: rows(dataDir).length, dirs: after.dirs, inits: Object.fromEntries(after.inits), forwarders: Object.fromEntries(after.forwarders) }).toEqual({ rows: 0, dirs: [], inits: {}, forwarders: {} })
    expect(cgroups.filter((c) => existsSync(c)), 'cgroups left behind').toEqual([])
  }, 300_000)
})
