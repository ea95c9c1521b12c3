// Where a sandbox machine's state lives on disk, and the two records kept there.
//
//   <dataDir>/machines/<id>/          0700: machine roots hold files the machine's root made
//     machine.json                    what to boot (spec, image layout, /etc snapshot)
//     run.json                        what is running (init + forwarder pid/start time, cgroup)
//     console.log  forwarder.log      output of PID 1's child / of the forwarder
//     fwd.sock                        the forwarder's unix socket (0600)
//     fstab.boot fstab.dev            mount plans, regenerated at every start
//     fs/                             image "host": the machine's own root directory
//     layers/<name>/{upper,work}      overlay upper/work dirs (usr, etc, var-lib-dpkg … or root)
//     mnt/                            where the root is assembled, inside the machine's mount ns only
//   <dataDir>/sandbox/                shared: forwarder.cjs, devskel/, etc/<snapshot>/
//   <dataDir>/images/<name>/rootfs    imported images (overlay lower layers)
import fs from 'node:fs'
import path from 'node:path'
import { DriverError, type MachineSpec } from '../driver.js'
import type { MachineCgroup } from '../cgroups.js'
import type { ProcessRef } from '../forwarder/host-process.js'

// Ids name directories: no dots (no "." / ".."), no slashes, bounded.
const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
const MACHINE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

export function assertMachineId(id: string): void {
  if (!MACHINE_ID.test(id)) throw new DriverError('invalid', `invalid machine id ${JSON.stringify(id)}`)
}

export function assertSpec(spec: MachineSpec): void {
  assertMachineId(spec.id)
  if (!MACHINE_NAME.test(spec.name)) throw new DriverError('invalid', `invalid machine name ${JSON.stringify(spec.name)}: a DNS label`)
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (!ENV_KEY.test(k) || v.includes('\0')) throw new DriverError('invalid', `invalid environment variable ${JSON.stringify(k)}`)
  }
  if (spec.cpu !== undefined && !(spec.cpu > 0)) throw new DriverError('invalid', 'cpu must be > 0')
  if (spec.memoryBytes !== undefined && !(spec.memoryBytes >= 4 * 1024 * 1024)) throw new DriverError('invalid', 'memory must be at least 4 MiB')
  if (spec.pids !== undefined && !(Number.isInteger(spec.pids) && spec.pids >= 8)) throw new DriverError('invalid', 'pids must be an integer >= 8')
  if (spec.network !== 'none' && spec.network !== 'host') throw new DriverError('invalid', `invalid network ${JSON.stringify(spec.network)}`)
}

export interface MachinePaths {
  dir: string
  record: string
  run: string
  log: string
  fwdLog: string
  fwdSock: string
  fstabBoot: string
  fstabDev: string
  fs: string
  layers: string
  mnt: string
}

export function machinesRoot(dataDir: string): string {
  return path.join(dataDir, 'machines')
}

export function machinePaths(dataDir: string, id: string): MachinePaths {
  assertMachineId(id)
  return pathsAt(path.join(machinesRoot(dataDir), id))
}

/** The same layout rooted at any directory (a machine being created is staged under a temp name). */
export function pathsAt(dir: string): MachinePaths {
  return {
    dir,
    record: path.join(dir, 'machine.json'),
    run: path.join(dir, 'run.json'),
    log: path.join(dir, 'console.log'),
    fwdLog: path.join(dir, 'forwarder.log'),
    fwdSock: path.join(dir, 'fwd.sock'),
    fstabBoot: path.join(dir, 'fstab.boot'),
    fstabDev: path.join(dir, 'fstab.dev'),
    fs: path.join(dir, 'fs'),
    layers: path.join(dir, 'layers'),
    mnt: path.join(dir, 'mnt'),
  }
}

/** What to boot. Written at create/start/rebuild. */
export interface MachineRecord {
  version: 1
  spec: MachineSpec
  /** 'host': fs/ + overlays of host dirs; 'image': one overlay over an imported rootfs. */
  layout: 'host' | 'image'
  /** layout 'host': snapshot id of the sanitized host /etc under <dataDir>/sandbox/etc/. */
  etcSnapshot?: string
  /** layout 'host': host directories (relative to /) mounted as per-machine overlays. */
  hostOverlays?: string[]
  createdAt: string
}

/** What is running. Present only between a successful start and stop. */
export interface RunRecord {
  init: ProcessRef
  startedAt: string
  cgroup: MachineCgroup
  forwarder?: ProcessRef
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/** Atomic write (tmp + rename), so a crash never leaves half a record. */
export function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 })
  fs.renameSync(tmp, file)
}

/** Layer directory name for a host path: 'var/lib/dpkg' → 'var-lib-dpkg'. */
export const layerName = (rel: string) => rel.replace(/\//g, '-')
