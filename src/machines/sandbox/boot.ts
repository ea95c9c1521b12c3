// Booting and stopping a sandbox machine.
//
// Process tree at boot (all detached from boxd: own session, stdio → console.log):
//   sh WRAPPER      joins the machine's cgroup(s) by pid, then execs
//   unshare -m -u -i [-n] -p -C      fresh namespaces, all owned by the host user namespace, then
//   sh -c '"$@" &'  whose first child is PID 1 of the new pid namespace; it exits at once, so
//                   PID 1 is reparented away from boxd and survives a boxd restart
//   PID 1: sh BOOT_SCRIPT   mounts the root (mount -a from fstab files), pivot_root + detaches the
//                   host root, then joins a fresh user namespace (busybox unshare -U) whose uid/gid
//                   maps boxd writes from the host (identity map 0..2^32-2), and execs tini.
//
// Why a user namespace: root inside the machine keeps uid 0 (apt, chown, setuid all work) but holds
// no capability in the host user namespace, which owns every other namespace of the machine. So it
// cannot mount, unmount our masks, mknod devices, load modules, change the hostname or network, or
// reboot: the mount table built here is final. Mounts/pivot happen before the switch, as host root.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import readline from 'node:readline'
import { DriverError } from '../driver.js'
import { procsFiles, type MachineCgroup } from '../cgroups.js'
import { refOf, type ProcessRef } from '../forwarder/host-process.js'
import type { HostTools } from './host-tools.js'

const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'
export const MACHINE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
/** Identity map of every uid/gid but the overflow id: uid 0 inside is uid 0 outside. */
const ID_MAP = '0 0 4294967295\n'
const BOOT_TIMEOUT_MS = 15_000
const LOG_KEEP_BYTES = 1 << 20

/** Joins the cgroup(s) named before "--" (by writing its own pid), then execs the rest. */
export const JOIN_CGROUPS_AND_EXEC = 'while [ "$1" != -- ]; do echo $$ >"$1"; shift; done; shift; exec "$@"'

/**
 * PID 1's script. Arguments: mnt hostname network busybox fstab.boot fstab.dev devskel -- argv…
 * fd 3: messages to boxd ("pid N", "userns"); fd 4: boxd's "go" once the id maps are written.
 * Both are closed before the final exec, so nothing inside the machine keeps a channel to boxd.
 */
export const BOOT_SCRIPT = `set -eu
mnt=$1 name=$2 net=$3 busybox=$4 fstab_boot=$5 fstab_dev=$6 devskel=$7
shift 8
# /proc is still the host's procfs here, so /proc/self/stat holds our host pid, which boxd records.
read -r hostpid _ </proc/self/stat
# sysctls apply to the namespaces of the writer: the machine's fresh UTS and network namespaces.
echo "$name" >/proc/sys/kernel/hostname
if [ "$net" = none ]; then
  # root inside has no host capabilities (CAP_NET_BIND_SERVICE included): let it bind :80 in its own netns
  echo 0 >/proc/sys/net/ipv4/ip_unprivileged_port_start
  "$busybox" ip link set lo up
fi
mount -a -T "$fstab_boot"
cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$devskel/." "$mnt/dev/"
mount -a -T "$fstab_dev"
cd "$mnt"
# The machine root becomes / with the host root stacked on top of it; lookups now resolve in the
# machine root, so the unmount runs the static helper bound there, not a host binary.
pivot_root . .
/dev/.boxd/busybox umount -l .
cd /
echo "pid $hostpid" >&3
exec /dev/.boxd/busybox unshare -U /dev/.boxd/busybox sh -c 'echo userns >&3; read -r go <&4 && [ "$go" = go ] || exit 70; exec 3>&- 4<&-; exec "$@"' userns "$@"
`

export interface BootOptions {
  tools: HostTools
  mnt: string
  hostname: string
  network: 'none' | 'host'
  fstabBoot: string
  fstabDev: string
  devSkeleton: string
  cgroup: MachineCgroup
  logFile: string
  /** The machine's init command line (inside the machine, after the user-namespace switch). */
  argv: string[]
}

/** Boots a machine and resolves with its init (host pid + start time) once it can be exec'd into. */
export async function boot(o: BootOptions): Promise<ProcessRef> {
  trimLog(o.logFile)
  const log = fs.openSync(o.logFile, 'a', 0o600)
  let child: ChildProcess
  try {
    const unshareArgs = ['-m', '-u', '-i', '-p', '-C', ...(o.network === 'none' ? ['-n'] : []), '--propagation', 'private']
    child = spawn(o.tools.sh, [
      '-c', JOIN_CGROUPS_AND_EXEC, 'boxd-boot', ...procsFiles(o.cgroup), '--',
      o.tools.unshare, ...unshareArgs, '--', o.tools.sh, '-c', '"$@" &', 'boxd-fork',
      o.tools.sh, '-c', BOOT_SCRIPT, 'boxd-init',
      o.mnt, o.hostname, o.network, o.tools.busybox, o.fstabBoot, o.fstabDev, o.devSkeleton, '--', ...o.argv,
    ], { detached: true, stdio: ['ignore', log, log, 'pipe', 'pipe'], env: { PATH: HOST_PATH }, cwd: '/' })
  } finally {
    fs.closeSync(log)
  }
  child.on('error', () => { /* surfaces as the handshake failing */ })
  child.unref()
  try {
    return await handshake(child, o.logFile)
  } finally {
    (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy()
    ;(child.stdio[4] as NodeJS.WritableStream & { destroy(): void }).destroy()
  }
}

/** Follows the boot script's messages; writes the id maps when asked; resolves when fd 3 closes. */
function handshake(child: ChildProcess, logFile: string): Promise<ProcessRef> {
  const fromBoot = child.stdio[3] as NodeJS.ReadableStream
  const toBoot = child.stdio[4] as NodeJS.WritableStream
  toBoot.on('error', () => { /* boot died: reported on fd 3's end */ })
  return new Promise((resolve, reject) => {
    let pid: number | undefined
    let released = false
    const timer = setTimeout(() => {
      if (child.pid) try { process.kill(-child.pid, 'SIGKILL') } catch { /* gone */ }
      if (pid) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
      reject(bootError(`machine did not boot within ${BOOT_TIMEOUT_MS} ms`, logFile))
    }, BOOT_TIMEOUT_MS)
    const lines = readline.createInterface({ input: fromBoot })
    lines.on('line', (msg) => {
      if (msg.startsWith('pid ')) pid = Number(msg.slice(4))
      else if (msg === 'userns' && pid) {
        try {
          fs.writeFileSync(`/proc/${pid}/uid_map`, ID_MAP)
          fs.writeFileSync(`/proc/${pid}/gid_map`, ID_MAP)
          toBoot.write('go\n')
          released = true
        } catch (e) {
          try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
          clearTimeout(timer)
          reject(bootError(`cannot map machine user ids: ${(e as Error).message}`, logFile))
        }
      }
    })
    lines.on('close', () => {
      clearTimeout(timer)
      const ref = released && pid ? refOf(pid) : undefined
      if (ref) resolve(ref)
      else reject(bootError('machine failed to boot', logFile))
    })
  })
}

function bootError(message: string, logFile: string): DriverError {
  let tail = ''
  try {
    const buf = fs.readFileSync(logFile)
    tail = buf.subarray(Math.max(0, buf.length - 2000)).toString().trim()
  } catch { /* no log */ }
  return new DriverError('unavailable', tail ? `${message}: ${tail}` : message)
}

/** Keeps console.log bounded: past 1 MiB, only the last 1 MiB survives a start. */
function trimLog(file: string): void {
  try {
    const size = fs.statSync(file).size
    if (size <= LOG_KEEP_BYTES) return
    const fd = fs.openSync(file, 'r')
    const buf = Buffer.alloc(LOG_KEEP_BYTES)
    fs.readSync(fd, buf, 0, LOG_KEEP_BYTES, size - LOG_KEEP_BYTES)
    fs.closeSync(fd)
    fs.writeFileSync(file, buf, { mode: 0o600 })
  } catch { /* no log yet */ }
}
