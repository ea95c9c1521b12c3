// What the sandbox driver needs from the host, found once and checked with an actionable message.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export interface HostTools {
  sh: string
  unshare: string
  nsenter: string
  mount: string
  cp: string
  pivotRoot: string
  umount: string
  tar: string
  node: string
  /** Statically linked: bound read-only into every machine (/dev/.boxd/busybox), so it works in any image. */
  busybox: string
  /** Statically linked tini: the machine's PID 1 (/dev/.boxd/init). */
  tini: string
}

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

function which(name: string): string | undefined {
  for (const dir of SEARCH) {
    const p = path.join(dir, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch { /* next */ }
  }
  return undefined
}

/** True for an ELF executable without a PT_INTERP program header (no dynamic loader needed). */
export function isStaticElf(file: string): boolean {
  const fd = fs.openSync(file, 'r')
  try {
    const head = Buffer.alloc(64)
    fs.readSync(fd, head, 0, 64, 0)
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false   // 64-bit little-endian only
    const phoff = Number(head.readBigUInt64LE(32))
    const phentsize = head.readUInt16LE(54)
    const phnum = head.readUInt16LE(56)
    const table = Buffer.alloc(phentsize * phnum)
    fs.readSync(fd, table, 0, table.length, phoff)
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false
    return true
  } finally {
    fs.closeSync(fd)
  }
}

function firstStatic(names: string[]): string | undefined {
  for (const n of names) {
    const p = n.startsWith('/') ? n : which(n)
    if (p && fs.existsSync(p) && isStaticElf(fs.realpathSync(p))) return fs.realpathSync(p)
  }
  return undefined
}

/** Finds the tools, or throws one Error listing everything missing and how to fix it. */
export function findHostTools(): HostTools {
  const problems: string[] = []
  const need = (name: string, pkg: string) => {
    const p = which(name)
    if (!p) problems.push(`${name} not found (apt-get install ${pkg})`)
    return p ?? name
  }
  const tools: HostTools = {
    sh: need('sh', 'dash'),
    unshare: need('unshare', 'util-linux'),
    nsenter: need('nsenter', 'util-linux'),
    mount: need('mount', 'mount'),
    umount: need('umount', 'mount'),
    pivotRoot: need('pivot_root', 'util-linux'),
    cp: need('cp', 'coreutils'),
    tar: need('tar', 'tar'),
    node: process.execPath,
    busybox: firstStatic(['/bin/busybox', 'busybox']) ?? '',
    tini: firstStatic(['tini-static', 'tini', 'docker-init']) ?? '',
  }
  if (!tools.busybox) problems.push('a statically linked busybox is required (apt-get install busybox-static)')
  if (!tools.tini) problems.push('a statically linked tini is required (apt-get install tini: it ships /usr/bin/tini-static)')
  if (tools.nsenter !== 'nsenter' && !nsenterHasWdns(tools.nsenter)) problems.push('nsenter lacks --wdns (util-linux >= 2.38 needed)')
  if (problems.length) throw new Error(`sandbox driver: ${problems.join('; ')}`)
  return tools
}

function nsenterHasWdns(nsenter: string): boolean {
  try {
    return execFileSync(nsenter, ['--help'], { encoding: 'utf8' }).includes('--wdns')
  } catch {
    return false
  }
}

/** Kernel features the sandbox needs; returns problems (empty when fine). */
export function kernelProblems(): string[] {
  const problems: string[] = []
  try {
    if (!/\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'))) problems.push('overlayfs is not available (modprobe overlay)')
  } catch {
    problems.push('/proc is not mounted')
  }
  for (const ns of ['mnt', 'pid', 'uts', 'ipc', 'net', 'user', 'cgroup']) {
    if (!fs.existsSync(`/proc/self/ns/${ns}`)) problems.push(`kernel lacks ${ns} namespaces`)
  }
  try {
    if (Number(fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')) === 0) {
      problems.push('user namespaces are disabled (sysctl user.max_user_namespaces=15000)')
    }
  } catch { /* older kernels: no knob, enabled */ }
  return problems
}
