// The embedded default driver: Linux namespaces + overlayfs + cgroups, no daemon.
// Disk layout: layout.ts. Root filesystem: rootfs.ts. Boot and isolation: boot.ts. Exec: exec.ts.
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import type { Duplex } from 'node:stream'
import path from 'node:path'
import { DriverError, type Driver, type DriverStatus, type ExecOptions, type ExecProcess, type MachineSpec } from '../driver.js'
import { CgroupHost, cgroupPids, procsFiles, readUsage, removeCgroup, type MachineCgroup } from '../cgroups.js'
import { dialWithRespawn, spawnForwarder } from '../forwarder/client.js'
import { isAlive, signalRef, waitGone, type ProcessRef } from '../forwarder/host-process.js'
import { writeForwarderScript } from '../forwarder/script.js'
import { boot, MACHINE_PATH } from './boot.js'
import { execInMachine } from './exec.js'
import { EtcSnapshots } from './host-etc.js'
import { findHostTools, kernelProblems, type HostTools } from './host-tools.js'
import { HOST_IMAGE, imageRootfs, imageExists, importImage, listImages, type ImportedImage } from './images.js'
import {
  assertMachineId, assertSpec, machinePaths, machinesRoot, pathsAt, readJson, writeJson,
  type MachinePaths, type MachineRecord, type RunRecord,
} from './layout.js'
import {
  createHostDisk, createImageDisk, detectProcMasks, ensureDevSkeleton, hostOverlayDirs, mountPlan, persistentHome,
  type ProcMasks,
} from './rootfs.js'

export interface SandboxDriverOptions {
  /** boxd's data dir; machines live in <dataDir>/machines/<id>/. */
  dataDir: string
  /** SIGTERM grace before SIGKILL when stopping a machine (default 3000 ms). */
  stopGraceMs?: number
}

const DEFAULT_PIDS = 512
const KEPT_ON_REBUILD = ['root', 'home']
const DISK_CACHE_MS = 10_000

/** Host-side facts found once per driver instance (lazily: constructing a driver has no effects). */
interface Host {
  tools: HostTools
  cgroups: CgroupHost
  procMasks: ProcMasks
  forwarderScript: string
  devSkeleton: string
}

export class SandboxDriver implements Driver {
  readonly name = 'sandbox' as const
  readonly dataDir: string
  private readonly stopGraceMs: number
  private readonly etc: EtcSnapshots
  private readonly locks = new KeyedMutex()
  private readonly diskCache = new Map<string, { bytes: number; at: number }>()
  private host?: Host
  private smokeTested = false

  constructor(opts: SandboxDriverOptions) {
    if (!opts?.dataDir) throw new Error('SandboxDriver: dataDir is required')
    this.dataDir = path.resolve(opts.dataDir)
    // The data dir appears in overlay mount options and fstab lines, where ',' ':' and whitespace
    // are separators: refuse them at wiring time rather than mis-mount later.
    if (/[,:\s\\#]/.test(this.dataDir)) throw new Error(`SandboxDriver: data dir path must not contain , : # \\ or whitespace: ${this.dataDir}`)
    this.stopGraceMs = opts.stopGraceMs ?? 3000
    this.etc = new EtcSnapshots(this.dataDir)
  }

  async check(): Promise<void> {
    if (process.getuid?.() !== 0) {
      throw new Error('sandbox driver needs root (it mounts overlays, creates namespaces and cgroups): '
        + 'run boxd as root, or use the docker driver (--driver=docker)')
    }
    const problems = kernelProblems()
    if (problems.length) throw new Error(`sandbox driver: ${problems.join('; ')}`)
    const host = this.setup()
    if (!this.smokeTested) {
      smokeTest(host.tools, path.join(this.dataDir, 'sandbox', 'check'))
      this.smokeTested = true
    }
  }

  private setup(): Host {
    if (this.host) return this.host
    const tools = findHostTools()
    const shared = path.join(this.dataDir, 'sandbox')
    fs.mkdirSync(machinesRoot(this.dataDir), { recursive: true, mode: 0o700 })
    // Machine disks hold files a machine's root made (setuid binaries included): host users must
    // not reach them, so every directory boxd keeps machines under is root-only.
    fs.chmodSync(machinesRoot(this.dataDir), 0o700)
    fs.mkdirSync(shared, { recursive: true, mode: 0o700 })
    fs.chmodSync(shared, 0o700)
    removeDebris(machinesRoot(this.dataDir))
    const devSkeleton = path.join(shared, 'devskel')
    ensureDevSkeleton(devSkeleton)
    this.host = {
      tools,
      cgroups: new CgroupHost(),
      procMasks: detectProcMasks(),
      forwarderScript: writeForwarderScript(shared),
      devSkeleton,
    }
    return this.host
  }

  async create(spec: MachineSpec): Promise<void> {
    assertSpec(spec)
    this.setup()
    if (!imageExists(this.dataDir, spec.image)) throw new DriverError('invalid', `no such image ${JSON.stringify(spec.image)} (import it first)`)
    await this.locks.run(spec.id, async () => {
      const p = machinePaths(this.dataDir, spec.id)
      if (fs.existsSync(p.record)) throw new DriverError('exists', `machine ${spec.id} already exists`)
      await fsp.rm(p.dir, { recursive: true, force: true })   // debris of a create interrupted by a crash
      await removeStaged(this.dataDir, spec.id)                // …and of its staging (ids are per row: none in flight)
      // Built under a temp name and renamed: list() never sees half a machine.
      const stagedPaths = pathsAt(path.join(machinesRoot(this.dataDir), `.creating-${spec.id}-${crypto.randomBytes(4).toString('hex')}`))
      try {
        await fsp.mkdir(stagedPaths.dir, { mode: 0o700 })
        await this.layDisk(stagedPaths, spec, async (rec) => {
          writeJson(stagedPaths.record, rec)
          await fsp.rename(stagedPaths.dir, p.dir)
        })
      } catch (e) {
        await fsp.rm(stagedPaths.dir, { recursive: true, force: true })
        throw e
      }
    })
  }

  /**
   * Fresh disk for `spec` in `p`; writes the machine record with `commit` (rename into place, or
   * plain) while the /etc snapshot it names is still pinned against gc.
   */
  private async layDisk(p: MachinePaths, spec: MachineSpec, commit: (rec: MachineRecord) => Promise<void>, createdAt = new Date().toISOString()): Promise<void> {
    if (spec.image !== HOST_IMAGE) {
      await createImageDisk(p, spec.name, imageRootfs(this.dataDir, spec.image))
      return commit({ version: 1, spec, layout: 'image', createdAt })
    }
    const overlays = hostOverlayDirs()
    await createHostDisk(p, spec.name, overlays)
    const etc = await this.etc.acquire()
    try {
      await commit({ version: 1, spec, layout: 'host', etcSnapshot: etc.id, hostOverlays: overlays, createdAt })
    } finally {
      etc.release()
    }
  }

  async start(spec: MachineSpec): Promise<void> {
    assertSpec(spec)
    const host = this.setup()
    await this.locks.run(spec.id, async () => {
      const p = machinePaths(this.dataDir, spec.id)
      const rec = this.record(p)
      if (spec.image !== rec.spec.image) throw new DriverError('invalid', `machine ${spec.id} runs image ${rec.spec.image}; changing it needs rebuild`)
      const run = readJson<RunRecord>(p.run)
      if (run && isAlive(run.init)) {
        if (!isAlive(run.forwarder)) writeJson(p.run, { ...run, forwarder: this.startForwarder(p, run.init) })
        return
      }
      if (run) await this.cleanup(p, run)               // it died on its own: clear what is left
      const next: MachineRecord = { ...rec, spec }
      writeJson(p.record, next)
      const cgroup = host.cgroups.create(spec.id, { cpu: spec.cpu, memoryBytes: spec.memoryBytes, pids: spec.pids ?? DEFAULT_PIDS })
      // A boxd killed between booting an init and recording it (run.json) left that machine running
      // with no record; its processes are still in the machine's cgroup. Clear them before booting,
      // or two inits would mount and write the same disk.
      await clearCgroup(cgroup)
      let init: ProcessRef
      try {
        const plan = mountPlan(p, next, {
          tools: host.tools,
          imageRootfs: (name) => imageRootfs(this.dataDir, name),
          etcSnapshot: (id) => this.etc.pathOf(id),
          procMasks: host.procMasks,
        })
        fs.writeFileSync(p.fstabBoot, plan.boot, { mode: 0o600 })
        fs.writeFileSync(p.fstabDev, plan.dev, { mode: 0o600 })
        init = await boot({
          tools: host.tools, mnt: p.mnt, hostname: spec.name, network: spec.network,
          fstabBoot: p.fstabBoot, fstabDev: p.fstabDev, devSkeleton: host.devSkeleton, cgroup,
          logFile: p.log, argv: initArgv(spec),
        })
      } catch (e) {
        await removeCgroup(cgroup).catch(() => undefined)
        throw e
      }
      writeJson(p.run, { init, startedAt: new Date().toISOString(), cgroup, forwarder: this.startForwarder(p, init) } satisfies RunRecord)
    })
  }

  /** Spawns the forwarder without waiting for it: connect() waits only if it needs it. */
  private startForwarder(p: MachinePaths, init: ProcessRef): ProcessRef | undefined {
    const host = this.setup()
    fs.rmSync(p.fwdSock, { force: true })
    try {
      return spawnForwarder({ nsenter: host.tools.nsenter, node: host.tools.node, script: host.forwarderScript, sockPath: p.fwdSock, target: init, logFile: p.fwdLog })
    } catch {
      return undefined   // connect() retries
    }
  }

  async stop(id: string): Promise<void> {
    assertMachineId(id)
    await this.locks.run(id, () => this.stopLocked(machinePaths(this.dataDir, id)))
  }

  private async stopLocked(p: MachinePaths): Promise<void> {
    const run = readJson<RunRecord>(p.run)
    if (!run) return
    if (isAlive(run.init)) {
      // SIGTERM reaches tini (PID 1), which forwards it to the boot command; when PID 1 exits
      // the kernel kills everything else in the machine's pid namespace.
      signalRef(run.init, 'SIGTERM')
      if (!(await waitGone(run.init, this.stopGraceMs))) {
        signalRef(run.init, 'SIGKILL')
        if (!(await waitGone(run.init, 5000))) throw new DriverError('unavailable', `machine init ${run.init.pid} did not exit after SIGKILL`)
      }
    }
    await this.cleanup(p, run)
  }

  /** After the init is gone: forwarder, cgroup, run state. */
  private async cleanup(p: MachinePaths, run: RunRecord): Promise<void> {
    signalRef(run.forwarder, 'SIGTERM')
    await killCgroupMembers(run.cgroup)
    await removeCgroup(run.cgroup)
    fs.rmSync(p.fwdSock, { force: true })
    fs.rmSync(p.run, { force: true })
  }

  async remove(id: string): Promise<void> {
    assertMachineId(id)
    await this.locks.run(id, async () => {
      const p = machinePaths(this.dataDir, id)
      await this.stopLocked(p)
      await this.deleteTree(p.dir)
      await removeStaged(this.dataDir, id)
      this.diskCache.delete(id)
    })
    await this.gcEtc()
  }

  /**
   * Deletes a machine directory safely: only a real directory directly under machines/, never
   * through a symlink (fs.rm does not follow them), with anything mounted below detached first
   * (nothing should be: machine mounts live in the machine's own namespace) so rm cannot descend
   * into another filesystem. Renamed away first, so a crash midway leaves no half-machine.
   */
  private async deleteTree(dir: string): Promise<void> {
    if (path.dirname(dir) !== machinesRoot(this.dataDir)) throw new Error(`refusing to delete ${dir}`)
    const st = await fsp.lstat(dir).catch(() => undefined)
    if (!st) return
    if (!st.isDirectory()) throw new Error(`refusing to delete ${dir}: not a directory`)
    const trash = path.join(machinesRoot(this.dataDir), `.trash-${path.basename(dir)}-${crypto.randomBytes(4).toString('hex')}`)
    await fsp.rename(dir, trash)
    for (const m of mountsUnder(trash)) {
      try { execFileSync(this.setup().tools.umount, ['-l', m]) } catch { /* already gone */ }
    }
    await fsp.rm(trash, { recursive: true, force: true })
  }

  private async gcEtc(): Promise<void> {
    const inUse = new Set<string>()
    for (const id of await this.list()) {
      const rec = readJson<MachineRecord>(machinePaths(this.dataDir, id).record)
      if (rec?.etcSnapshot) inUse.add(rec.etcSnapshot)
    }
    await this.etc.gc(inUse)
  }

  async rebuild(spec: MachineSpec): Promise<void> {
    assertSpec(spec)
    this.setup()
    if (!imageExists(this.dataDir, spec.image)) throw new DriverError('invalid', `no such image ${JSON.stringify(spec.image)}`)
    await this.locks.run(spec.id, async () => {
      const p = machinePaths(this.dataDir, spec.id)
      const rec = this.record(p)
      const run = readJson<RunRecord>(p.run)
      if (run && isAlive(run.init)) throw new DriverError('running', `machine ${spec.id} is running: stop it before rebuild`)
      if (run) await this.cleanup(p, run)
      // Move /root and /home aside (rename: never follows a symlink the machine may have made).
      const keep = path.join(p.dir, 'keep')
      await fsp.rm(keep, { recursive: true, force: true })
      await fsp.mkdir(keep, { mode: 0o700 })
      const home = persistentHome(p, rec.layout)
      for (const d of KEPT_ON_REBUILD) await fsp.rename(path.join(home, d), path.join(keep, d)).catch(() => undefined)
      await fsp.rm(p.fs, { recursive: true, force: true })
      await fsp.rm(p.layers, { recursive: true, force: true })
      await this.layDisk(p, spec, async (next) => {
        const newHome = persistentHome(p, next.layout)
        for (const d of KEPT_ON_REBUILD) {
          if (!exists(path.join(keep, d))) continue
          await fsp.rm(path.join(newHome, d), { recursive: true, force: true })
          await fsp.rename(path.join(keep, d), path.join(newHome, d))
        }
        await fsp.rm(keep, { recursive: true, force: true })
        writeJson(p.record, next)
      }, rec.createdAt)
      this.diskCache.delete(spec.id)
    })
    await this.gcEtc()
  }

  async status(id: string): Promise<DriverStatus> {
    assertMachineId(id)
    const p = machinePaths(this.dataDir, id)
    if (!fs.existsSync(p.record)) return { id, state: 'missing' }
    const run = readJson<RunRecord>(p.run)
    const diskBytes = await this.diskBytes(id, p)
    if (!run || !isAlive(run.init)) return { id, state: 'stopped', diskBytes }
    const usage = readUsage(run.cgroup)
    return {
      id, state: 'running', pid: run.init.pid, startedAt: run.startedAt,
      cpuSeconds: usage.cpuSeconds, memoryBytes: usage.memoryBytes, diskBytes, limits: usage.limits,
    }
  }

  /** Bytes allocated by the machine's own layers (not the shared image), cached briefly: it walks the tree. */
  private async diskBytes(id: string, p: MachinePaths): Promise<number> {
    const hit = this.diskCache.get(id)
    if (hit && Date.now() - hit.at < DISK_CACHE_MS) return hit.bytes
    const bytes = (await du(p.fs)) + (await du(p.layers))
    this.diskCache.set(id, { bytes, at: Date.now() })
    return bytes
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecProcess> {
    assertMachineId(id)
    const host = this.setup()
    const p = machinePaths(this.dataDir, id)
    const rec = this.record(p)
    const run = this.running(p)
    const hasRoot = (() => { try { return fs.lstatSync(`/proc/${run.init.pid}/root/root`).isDirectory() } catch { return false } })()
    return execInMachine({
      nsenter: host.tools.nsenter, sh: host.tools.sh, initPid: run.init.pid, procsFiles: procsFiles(run.cgroup),
      machineEnv: rec.spec.env ?? {}, hostname: rec.spec.name, defaultCwd: hasRoot ? '/root' : '/',
    }, opts)
  }

  async connect(id: string, port: number): Promise<Duplex> {
    assertMachineId(id)
    const p = machinePaths(this.dataDir, id)
    const run = this.running(p)
    return dialWithRespawn({
      sockPath: p.fwdSock, port, forwarder: run.forwarder,
      // Synchronous: concurrent connects cannot both respawn (the second sees the first's record).
      start: () => {
        const current = readJson<RunRecord>(p.run)
        if (!current || !isAlive(current.init)) throw new DriverError('not_running', `machine ${id} is not running`)
        if (isAlive(current.forwarder)) return current.forwarder
        const forwarder = this.startForwarder(p, current.init)
        if (!forwarder) throw new DriverError('unavailable', `cannot start the forwarder of machine ${id}`)
        writeJson(p.run, { ...current, forwarder })
        return forwarder
      },
    })
  }

  async netns(id: string): Promise<ProcessRef> {
    assertMachineId(id)
    return this.running(machinePaths(this.dataDir, id)).init
  }

  /** `boxd image import`: a rootfs tarball becomes image `name` for this driver's machines. */
  importImage(name: string, tarPath: string): Promise<ImportedImage> {
    return importImage(this.dataDir, name, tarPath, { tar: this.setup().tools.tar })
  }

  listImages(): Promise<string[]> {
    return listImages(this.dataDir)
  }

  async list(): Promise<string[]> {
    const root = machinesRoot(this.dataDir)
    const names = await fsp.readdir(root).catch(() => [] as string[])
    return names.filter((n) => !n.startsWith('.') && fs.existsSync(path.join(root, n, 'machine.json'))).sort()
  }

  private record(p: MachinePaths): MachineRecord {
    const rec = readJson<MachineRecord>(p.record)
    if (!rec) throw new DriverError('missing', `no machine ${path.basename(p.dir)}`)
    return rec
  }

  private running(p: MachinePaths): RunRecord {
    this.record(p)
    const run = readJson<RunRecord>(p.run)
    if (!run || !isAlive(run.init)) throw new DriverError('not_running', `machine ${path.basename(p.dir)} is not running`)
    return run
  }
}

/**
 * Does what a boot does, minimally: every namespace the machines use plus an overlay mount, in a
 * throwaway private mount namespace. Fails when the kernel or a container runtime forbids it.
 */
function smokeTest(tools: HostTools, dir: string): void {
  for (const d of ['lower', 'upper', 'work', 'mnt']) fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o700 })
  const script = `mount -t overlay overlay -o lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work ${dir}/mnt && ${tools.unshare} -U true`
  try {
    execFileSync(tools.unshare, ['-m', '-u', '-i', '-n', '-p', '-C', '-f', '--propagation', 'private', tools.sh, '-c', script], { stdio: 'pipe', timeout: 10_000 })
  } catch (e) {
    const detail = ((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim()
    throw new Error(`sandbox driver: cannot create namespaces and overlay mounts here (${detail}); `
      + 'run boxd as root directly on the host (inside a container it needs --privileged), or use the docker driver')
  }
}

/** Leftovers of a create or remove interrupted by a crash (older than an hour, so never in flight). */
function removeDebris(root: string): void {
  const cutoff = Date.now() - 3600_000
  for (const name of fs.readdirSync(root)) {
    if (!name.startsWith('.creating-') && !name.startsWith('.trash-')) continue
    const p = path.join(root, name)
    try {
      if (fs.lstatSync(p).mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true })
    } catch { /* raced with another cleanup */ }
  }
}

/** Staging dirs of this machine id left by a create that a crash cut off (held under its lock). */
async function removeStaged(dataDir: string, id: string): Promise<void> {
  const root = machinesRoot(dataDir)
  for (const name of fs.readdirSync(root)) {
    if (name.startsWith(`.creating-${id}-`)) await fsp.rm(path.join(root, name), { recursive: true, force: true })
  }
}

/** PID 1 (tini) and its child: the boot command, or a sleep that keeps the machine up. */
function initArgv(spec: MachineSpec): string[] {
  const env = { PATH: MACHINE_PATH, HOME: '/root', HOSTNAME: spec.name, container: 'boxd', ...spec.env }
  const child = spec.command ? ['/bin/sh', '-c', spec.command] : ['/dev/.boxd/busybox', 'sleep', '2147483647']
  return ['/dev/.boxd/busybox', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), '/dev/.boxd/init', '--', ...child]
}

/** Processes left in the cgroup (exec sessions' host-side nsenter) after the machine died. */
async function killCgroupMembers(cg: MachineCgroup): Promise<void> {
  for (const pid of cgroupPids(cg)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
}

/** Kill whatever is in the machine's cgroup and wait (bounded) until it is empty. */
async function clearCgroup(cg: MachineCgroup): Promise<void> {
  const deadline = Date.now() + 5000
  while (cgroupPids(cg).length > 0) {
    if (Date.now() > deadline) throw new DriverError('unavailable', `processes of an unrecorded earlier boot did not exit: ${cgroupPids(cg).slice(0, 5).join(' ')}`)
    await killCgroupMembers(cg)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Exists as anything, a dangling symlink included (fs.existsSync follows links). */
function exists(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined
}

/** Host mount points at or below `dir` (deepest first). */
function mountsUnder(dir: string): string[] {
  const out: string[] = []
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    if (mp && (mp === dir || mp.startsWith(dir + '/'))) out.push(mp)
  }
  return out.sort((a, b) => b.length - a.length)
}

/** du: allocated bytes below `dir`, without following symlinks; bounded to 200k entries. */
async function du(dir: string): Promise<number> {
  let total = 0
  let budget = 200_000
  const walk = async (d: string): Promise<void> => {
    const entries = await fsp.readdir(d, { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      if (--budget < 0) return
      const st = await fsp.lstat(path.join(d, e.name)).catch(() => undefined)
      if (!st) continue
      total += st.blocks * 512
      if (e.isDirectory()) await walk(path.join(d, e.name))
    }
  }
  await walk(dir)
  return total
}

/** One async queue per key: operations on the same machine never interleave. */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const tail = next.catch(() => undefined)
    this.tails.set(key, tail)
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key) })
    return next
  }
}
