// Resource limits for sandbox machines through the kernel's cgroup filesystem (v1 or v2).
//
// Where machine cgroups live:
// - v1: under the cgroup boxd itself runs in, per hierarchy (`<own>/boxd/<id>`). v1 allows
//   children of a cgroup that holds processes, and nesting keeps machines accounted to whoever
//   supervises boxd (a container's memory limit keeps applying to its machines).
// - v2: the kernel forbids enabling controllers below a cgroup that holds processes ("no internal
//   processes"), so machines go to `<cgroup2 root>/boxd/<id>` (what Docker's cgroupfs driver does).
// Limits are read back from the files for status(): a limit we could not write is reported as
// absent, never echoed from the spec.
import fs from 'node:fs'
import path from 'node:path'

export type CgroupMode = 'v1' | 'v2' | 'none'

export interface CgroupLimits {
  cpu?: number          // cores, fractional allowed
  memoryBytes?: number
  pids?: number
}

/** A machine's cgroup, as persisted in its run state (paths are absolute). */
export interface MachineCgroup {
  mode: CgroupMode
  dirs: string[]        // every directory created for the machine (one per v1 hierarchy, or one v2 dir)
  note?: string
}

export interface CgroupUsage {
  cpuSeconds?: number
  memoryBytes?: number
  limits: { cgroup: CgroupMode; cpu?: number; memoryBytes?: number; pids?: number; note?: string }
}

const CFS_PERIOD_US = 100_000
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const
type V1Controller = (typeof V1_CONTROLLERS)[number]

interface Mount { mountPoint: string; root: string; fstype: string; superOptions: string[] }

function parseMounts(mountinfo: string): Mount[] {
  const out: Mount[] = []
  for (const line of mountinfo.split('\n')) {
    if (!line) continue
    const [left, right] = line.split(' - ')
    if (!left || !right) continue
    const l = left.split(' ')
    const r = right.split(' ')
    out.push({ root: unescapeMount(l[3]), mountPoint: unescapeMount(l[4]), fstype: r[0], superOptions: (r[2] ?? '').split(',') })
  }
  return out
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** The cgroup this process is in, per v1 controller (and '' for the v2 unified hierarchy). */
function parseOwnCgroups(procSelfCgroup: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const line of procSelfCgroup.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line)
    if (!match) continue
    for (const c of match[1].split(',')) m.set(c, match[2])
  }
  return m
}

/** Directory of `cgroupPath` inside a hierarchy mounted at `mount` (handles non-root mount roots). */
function dirFor(mount: Mount, cgroupPath: string): string | undefined {
  const rel = mount.root === '/' ? cgroupPath : cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : undefined
  return rel === undefined ? undefined : path.join(mount.mountPoint, rel)
}

export class CgroupHost {
  readonly mode: CgroupMode
  readonly note?: string
  private readonly v1Parents = new Map<V1Controller, string>()   // controller → parent dir for machines
  private readonly v2Parent?: string

  /** Options exist for tests: the host's /proc files and cgroup mount point by default. */
  constructor(opts: { mountinfo?: string; selfCgroup?: string; cgroupRoot?: string } = {}) {
    const read = (f: string) => { try { return fs.readFileSync(f, 'utf8') } catch { return '' } }
    const mounts = parseMounts(opts.mountinfo ?? read('/proc/self/mountinfo'))
    const root = opts.cgroupRoot ?? '/sys/fs/cgroup'
    const v2Root = mounts.find((m) => m.fstype === 'cgroup2' && m.mountPoint === root)
    if (v2Root) {
      this.v2Parent = path.join(v2Root.mountPoint, 'boxd')
      this.mode = 'v2'
      return
    }
    const own = parseOwnCgroups(opts.selfCgroup ?? read('/proc/self/cgroup'))
    for (const c of V1_CONTROLLERS) {
      const mount = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(c))
      const dir = mount && dirFor(mount, own.get(c) ?? '/')
      if (dir && isWritableDir(dir)) this.v1Parents.set(c, path.join(dir, 'boxd'))
    }
    if (this.v1Parents.size > 0) {
      this.mode = 'v1'
      const missing = V1_CONTROLLERS.filter((c) => !this.v1Parents.has(c))
      if (missing.length) this.note = `cgroup v1 controllers unavailable: ${missing.join(', ')}`
    } else {
      this.mode = 'none'
      this.note = 'no writable cgroup hierarchy (mount cgroup2 at /sys/fs/cgroup or v1 cpu/memory/pids, and run as root)'
    }
  }

  /** Creates the machine's cgroup(s) and writes limits. Never throws for a missing controller: it reports. */
  create(id: string, limits: CgroupLimits): MachineCgroup {
    if (this.mode === 'v2') return this.createV2(id, limits)
    if (this.mode === 'v1') return this.createV1(id, limits)
    return { mode: 'none', dirs: [], note: this.note }
  }

  private createV1(id: string, limits: CgroupLimits): MachineCgroup {
    const problems: string[] = this.note ? [this.note] : []
    // Co-mounted controllers (cpu,cpuacct) share one directory: group them by it.
    const byDir = new Map<string, V1Controller[]>()
    for (const [controller, parent] of this.v1Parents) {
      const dir = path.join(parent, id)
      byDir.set(dir, [...(byDir.get(dir) ?? []), controller])
    }
    for (const [dir, controllers] of byDir) {
      fs.mkdirSync(dir, { recursive: true })
      for (const controller of controllers) {
        try {
          writeV1Limits(controller, dir, limits)
        } catch (e) {
          problems.push(`${controller}: ${(e as Error).message}`)
        }
      }
    }
    return { mode: 'v1', dirs: [...byDir.keys()], note: problems.length ? problems.join('; ') : undefined }
  }

  private createV2(id: string, limits: CgroupLimits): MachineCgroup {
    const parent = this.v2Parent!
    try {
      fs.mkdirSync(parent, { recursive: true })
      enableV2Controllers(path.dirname(parent))
      enableV2Controllers(parent)
    } catch (e) {
      return { mode: 'none', dirs: [], note: `cgroup v2 delegation failed (${(e as Error).message}); run boxd in the root cgroup or with Delegate=yes` }
    }
    const dir = path.join(parent, id)
    fs.mkdirSync(dir, { recursive: true })
    if (limits.cpu !== undefined) fs.writeFileSync(path.join(dir, 'cpu.max'), `${Math.max(1000, Math.round(limits.cpu * CFS_PERIOD_US))} ${CFS_PERIOD_US}`)
    if (limits.memoryBytes !== undefined) {
      fs.writeFileSync(path.join(dir, 'memory.max'), String(limits.memoryBytes))
      if (fs.existsSync(path.join(dir, 'memory.swap.max'))) fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0')
    }
    if (limits.pids !== undefined) fs.writeFileSync(path.join(dir, 'pids.max'), String(limits.pids))
    return { mode: 'v2', dirs: [dir] }
  }
}

function writeV1Limits(controller: V1Controller, dir: string, limits: CgroupLimits): void {
  if (controller === 'cpu' && limits.cpu !== undefined) {
    fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US))
    fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpu * CFS_PERIOD_US))))
  }
  if (controller === 'memory' && limits.memoryBytes !== undefined) {
    fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes))
    // No swapping past the limit (where swap accounting exists): the limit means RAM + swap.
    const memsw = path.join(dir, 'memory.memsw.limit_in_bytes')
    if (fs.existsSync(memsw)) fs.writeFileSync(memsw, String(limits.memoryBytes))
  }
  if (controller === 'pids' && limits.pids !== undefined) {
    fs.writeFileSync(path.join(dir, 'pids.max'), String(limits.pids))
  }
}

function enableV2Controllers(dir: string): void {
  const available = fs.readFileSync(path.join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/)
  const wanted = ['cpu', 'memory', 'pids'].filter((c) => available.includes(c))
  if (wanted.length) fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '))
}

function isWritableDir(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK)
    return fs.statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/** The files a process writes its pid to, to join the machine's cgroup(s). */
export function procsFiles(cg: MachineCgroup): string[] {
  return cg.dirs.map((d) => path.join(d, 'cgroup.procs'))
}

const readNumber = (file: string): number | undefined => {
  try {
    const s = fs.readFileSync(file, 'utf8').trim()
    if (s === 'max') return undefined
    const n = Number(s.split(/\s+/)[0])
    return Number.isFinite(n) ? n : undefined
  } catch {
    return undefined
  }
}

const findFile = (cg: MachineCgroup, name: string) => cg.dirs.map((d) => path.join(d, name)).find((f) => fs.existsSync(f))

/** Usage and the limits actually in force, read back from the cgroup files. */
export function readUsage(cg: MachineCgroup): CgroupUsage {
  if (cg.mode === 'none') return { limits: { cgroup: 'none', note: cg.note } }
  return cg.mode === 'v2' ? readV2(cg) : readV1(cg)
}

function readV1(cg: MachineCgroup): CgroupUsage {
  const at = (name: string) => { const f = findFile(cg, name); return f === undefined ? undefined : readNumber(f) }
  const quota = at('cpu.cfs_quota_us')
  const period = at('cpu.cfs_period_us')
  const mem = at('memory.limit_in_bytes')
  const usageNs = at('cpuacct.usage')
  return {
    cpuSeconds: usageNs === undefined ? undefined : usageNs / 1e9,
    memoryBytes: at('memory.usage_in_bytes'),
    limits: {
      cgroup: 'v1',
      cpu: quota !== undefined && quota > 0 && period ? quota / period : undefined,
      // v1 reports "no limit" as a huge page-rounded number.
      memoryBytes: mem !== undefined && mem < 2 ** 62 ? mem : undefined,
      pids: at('pids.max'),
      note: cg.note,
    },
  }
}

function readV2(cg: MachineCgroup): CgroupUsage {
  const dir = cg.dirs[0]
  let cpu: number | undefined
  try {
    const [quota, period] = fs.readFileSync(path.join(dir, 'cpu.max'), 'utf8').trim().split(/\s+/)
    if (quota !== 'max') cpu = Number(quota) / Number(period)
  } catch { /* controller not enabled */ }
  let cpuSeconds: number | undefined
  try {
    const m = /usage_usec (\d+)/.exec(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8'))
    if (m) cpuSeconds = Number(m[1]) / 1e6
  } catch { /* ignore */ }
  return {
    cpuSeconds,
    memoryBytes: readNumber(path.join(dir, 'memory.current')),
    limits: { cgroup: 'v2', cpu, memoryBytes: readNumber(path.join(dir, 'memory.max')), pids: readNumber(path.join(dir, 'pids.max')), note: cg.note },
  }
}

/** Pids still in the machine's cgroup (empty once every process has exited). */
export function cgroupPids(cg: MachineCgroup): number[] {
  const pids = new Set<number>()
  for (const f of procsFiles(cg)) {
    try {
      for (const s of fs.readFileSync(f, 'utf8').split('\n')) if (s) pids.add(Number(s))
    } catch { /* already removed */ }
  }
  return [...pids]
}

/** Removes the machine's cgroup directories; waits (bounded) for exiting processes to leave first. */
export async function removeCgroup(cg: MachineCgroup, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const dir of cg.dirs) {
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        fs.rmdirSync(dir)
        break
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENOENT') break
        if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`cannot remove cgroup ${dir}: ${code}`)
        await new Promise((r) => setTimeout(r, delay))
      }
    }
  }
}
