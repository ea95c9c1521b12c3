// A machine's persistent disk and the mount plan that turns it into a root filesystem.
//
// The root is built from scratch, never as "host / minus some dirs":
// - image "host": the machine's own directory fs/ (etc, root, home, tmp, var … all its own) with
//   per-machine overlays whose lower layers are host /usr (+ /bin, /lib* when they are not merged-
//   /usr symlinks), host /var/lib/dpkg (so apt/dpkg know what is installed) and a sanitized snapshot
//   of host /etc. Nothing written inside leaks back to the host: writes land in the upper layers.
// - imported images: one overlay, lower = <dataDir>/images/<name>/rootfs, upper = the machine's.
// Everything is mounted nodev (only our own /dev tmpfs has device nodes, so a device node in an
// image or made by the machine is inert). The mounts exist only inside the machine's private mount
// namespace: the host mount table never changes, and nothing needs unmounting after a crash.
import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { layerName, type MachinePaths, type MachineRecord } from './layout.js'

const ROOT_DIRS: [string, number][] = [
  ['etc', 0o755], ['usr', 0o755], ['var', 0o755], ['root', 0o700], ['home', 0o755], ['tmp', 0o1777],
  ['proc', 0o555], ['sys', 0o555], ['dev', 0o755], ['run', 0o755], ['mnt', 0o755], ['opt', 0o755],
  ['srv', 0o755], ['media', 0o755],
]
const VAR_DIRS: [string, number][] = [
  ['cache/apt/archives/partial', 0o755], ['lib/apt/lists/partial', 0o755], ['log', 0o755],
  ['spool', 0o755], ['mail', 0o2775], ['opt', 0o755], ['local', 0o755], ['backups', 0o755], ['tmp', 0o1777],
]
/** Top-level host dirs that are merged-/usr symlinks on modern Debian, real dirs elsewhere. */
const HOST_LIB_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']
/** Mount points the boot mounts on; in an imported image they are forced to be real directories. */
const IMAGE_MOUNT_POINTS = ['proc', 'sys', 'dev', 'run']

async function mkdirMode(p: string, mode: number): Promise<void> {
  await fsp.mkdir(p, { recursive: true })
  await fsp.chmod(p, mode)       // mkdir's mode is filtered by umask; sticky/setgid bits need chmod
}

async function makeLayer(paths: MachinePaths, name: string): Promise<string> {
  const dir = path.join(paths.layers, name)
  await fsp.mkdir(path.join(dir, 'upper'), { recursive: true })
  await fsp.mkdir(path.join(dir, 'work'), { recursive: true })
  await fsp.chmod(path.join(dir, 'upper'), 0o755)
  return path.join(dir, 'upper')
}

/** Per-machine identity files, written into the machine's own /etc layer. */
async function writeIdentity(etcDir: string, name: string): Promise<void> {
  await fsp.mkdir(etcDir, { recursive: true, mode: 0o755 })
  await fsp.writeFile(path.join(etcDir, 'hostname'), `${name}\n`, { mode: 0o644 })
  await fsp.writeFile(path.join(etcDir, 'hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, { mode: 0o644 })
  await fsp.writeFile(path.join(etcDir, 'machine-id'), `${crypto.randomBytes(16).toString('hex')}\n`, { mode: 0o444 })
}

/** Host dirs overlaid into a "host" machine, decided once at create. */
export function hostOverlayDirs(): string[] {
  const dirs = ['usr']
  for (const d of HOST_LIB_DIRS) {
    try { if (fs.lstatSync(`/${d}`).isDirectory()) dirs.push(d) } catch { /* absent */ }
  }
  if (fs.existsSync('/var/lib/dpkg')) dirs.push('var/lib/dpkg')
  return dirs
}

/** Lays out a fresh "host"-image disk: fs/ skeleton, overlay layers, identity files. */
export async function createHostDisk(paths: MachinePaths, name: string, overlays: string[]): Promise<void> {
  for (const [d, mode] of ROOT_DIRS) await mkdirMode(path.join(paths.fs, d), mode)
  await fsp.chmod(paths.fs, 0o755)
  for (const d of HOST_LIB_DIRS) {
    if (overlays.includes(d)) { await mkdirMode(path.join(paths.fs, d), 0o755); continue }
    try { await fsp.symlink(await fsp.readlink(`/${d}`), path.join(paths.fs, d)) } catch { /* not a symlink on this host */ }
  }
  for (const [d, mode] of VAR_DIRS) await mkdirMode(path.join(paths.fs, 'var', d), mode)
  await fsp.symlink('../run', path.join(paths.fs, 'var/run'))
  await fsp.symlink('../run/lock', path.join(paths.fs, 'var/lock'))
  for (const d of overlays) {
    await mkdirMode(path.join(paths.fs, d), 0o755)
    await makeLayer(paths, layerName(d))
  }
  await writeIdentity(await makeLayer(paths, 'etc'), name)
  await fsp.mkdir(paths.mnt, { recursive: true })
}

/** Lays out a fresh disk over an imported image: one upper layer, mount points forced to dirs. */
export async function createImageDisk(paths: MachinePaths, name: string, imageRootfs: string): Promise<void> {
  const upper = await makeLayer(paths, 'root')
  // A dir in the upper layer hides whatever the image has at that path (symlink included), so the
  // boot never mounts through a path the image controls.
  for (const d of IMAGE_MOUNT_POINTS) await mkdirMode(path.join(upper, d), 0o755)
  if (!fs.existsSync(path.join(imageRootfs, 'tmp'))) await mkdirMode(path.join(upper, 'tmp'), 0o1777)
  if (!fs.existsSync(path.join(imageRootfs, 'root'))) await mkdirMode(path.join(upper, 'root'), 0o700)
  await writeIdentity(path.join(upper, 'etc'), name)
  await fsp.mkdir(paths.mnt, { recursive: true })
}

/** The directory holding the machine's /root and /home (kept by rebuild). */
export function persistentHome(paths: MachinePaths, layout: MachineRecord['layout']): string {
  return layout === 'host' ? paths.fs : path.join(paths.layers, 'root', 'upper')
}

export interface MountContext {
  tools: { tini: string; busybox: string }
  imageRootfs: (name: string) => string
  etcSnapshot: (id: string) => string
  procMasks: ProcMasks
}

export interface ProcMasks {
  readOnly: string[]     // bound read-only over themselves
  nulled: string[]       // files hidden behind /dev/null
  emptied: string[]      // dirs hidden behind an empty read-only tmpfs
}

/**
 * Docker's list of /proc and /sys entries a container must not write or read. Root inside the
 * machine is uid 0 on host files it can see (identity-mapped user namespace), and /proc/sys write
 * permission is decided on the uid alone, hence read-only. Only what exists on this kernel.
 */
export function detectProcMasks(): ProcMasks {
  const exists = (p: string, dir: boolean) => { try { return fs.statSync(p).isDirectory() === dir } catch { return false } }
  return {
    readOnly: ['proc/sys', 'proc/irq', 'proc/bus', 'proc/fs', 'proc/sysrq-trigger'].filter((p) => fs.existsSync(`/${p}`)),
    nulled: ['proc/kcore', 'proc/keys', 'proc/latency_stats', 'proc/timer_list', 'proc/timer_stats', 'proc/sched_debug']
      .filter((p) => exists(`/${p}`, false)),
    emptied: ['proc/acpi', 'proc/scsi', 'sys/firmware'].filter((p) => exists(`/${p}`, true)),
  }
}

/** fstab(5) field escaping (spaces, tabs, newlines, backslashes). */
const esc = (s: string) => s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)
const line = (src: string, target: string, type: string, opts: string) => `${esc(src)} ${esc(target)} ${type} ${opts} 0 0`

/**
 * Two fstab files for `mount -a -T`: one process mounts a whole list in order.
 * - boot: the root, its overlays, /proc (+ masks), /sys (ro), fresh /dev and /run tmpfs;
 * - dev: after the /dev skeleton is copied in: devpts (own instance), /dev/shm, and the two
 *   static helpers bound read-only (a machine cannot modify the host's binaries through them).
 */
export function mountPlan(paths: MachinePaths, rec: MachineRecord, ctx: MountContext): { boot: string; dev: string } {
  const r = paths.mnt
  const at = (rel: string) => path.join(r, rel)
  const overlay = (lower: string, layer: string, target: string) => {
    const l = path.join(paths.layers, layer)
    return line('overlay', target, 'overlay', `lowerdir=${lower},upperdir=${l}/upper,workdir=${l}/work,nodev`)
  }
  const boot: string[] = []
  if (rec.layout === 'host') {
    boot.push(line(paths.fs, r, 'none', 'bind,nodev'))
    for (const d of rec.hostOverlays ?? []) boot.push(overlay(`/${d}`, layerName(d), at(d)))
    boot.push(overlay(ctx.etcSnapshot(rec.etcSnapshot!), 'etc', at('etc')))
  } else {
    boot.push(overlay(ctx.imageRootfs(rec.spec.image), 'root', r))
  }
  boot.push(line('proc', at('proc'), 'proc', 'nosuid,nodev,noexec'))
  for (const p of ctx.procMasks.readOnly) boot.push(line(at(p), at(p), 'none', 'bind,ro,nosuid,nodev,noexec'))
  for (const p of ctx.procMasks.nulled) boot.push(line('/dev/null', at(p), 'none', 'bind,ro'))
  boot.push(line('sysfs', at('sys'), 'sysfs', 'ro,nosuid,nodev,noexec'))
  for (const p of ctx.procMasks.emptied) boot.push(line('tmpfs', at(p), 'tmpfs', 'ro,nosuid,nodev,noexec,size=4k'))
  boot.push(line('tmpfs', at('dev'), 'tmpfs', 'nosuid,noexec,mode=755,size=4m'))
  boot.push(line('tmpfs', at('run'), 'tmpfs', 'nosuid,nodev,mode=755'))
  const dev = [
    line('devpts', at('dev/pts'), 'devpts', 'newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec'),
    line('shm', at('dev/shm'), 'tmpfs', 'nosuid,nodev,noexec,mode=1777,size=64m'),
    line(ctx.tools.tini, at('dev/.boxd/init'), 'none', 'bind,ro,nosuid,nodev'),
    line(ctx.tools.busybox, at('dev/.boxd/busybox'), 'none', 'bind,ro,nosuid,nodev'),
  ]
  return { boot: boot.join('\n') + '\n', dev: dev.join('\n') + '\n' }
}

/**
 * The /dev skeleton copied into each machine's fresh /dev tmpfs (device nodes come from host /dev).
 * Built in a temp dir and renamed into place, so a half-built skeleton is never used.
 */
export function ensureDevSkeleton(dir: string): void {
  if (fs.existsSync(dir)) return
  const tmp = `${dir}.tmp-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(path.join(tmp, '.boxd'), { recursive: true, mode: 0o755 })
  fs.chmodSync(tmp, 0o755)
  for (const d of ['pts', 'shm']) fs.mkdirSync(path.join(tmp, d), { mode: 0o755 })
  for (const f of ['init', 'busybox']) fs.writeFileSync(path.join(tmp, '.boxd', f), '', { mode: 0o755 })
  const links: [string, string][] = [['ptmx', 'pts/ptmx'], ['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'],
    ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]
  for (const [name, target] of links) fs.symlinkSync(target, path.join(tmp, name))
  try {
    fs.renameSync(tmp, dir)
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true })
    if (!fs.existsSync(dir)) throw e
  }
}
