// Sanitized snapshots of the host's /etc, the lower layer of every "host"-image machine's /etc.
//
// A machine gets "a copy of host /etc made at create" without copying ~1,500 files per machine
// (50-800 ms on a busy disk): the copy is made once per distinct host /etc and shared read-only as
// an overlay lower layer; each machine writes into its own upper layer. A snapshot is identified by
// a fingerprint of host /etc (every entry's path, type, mode, owner, size, mtime, ctime, inode), so
// a change on the host yields a new snapshot for machines created afterwards, while existing
// machines keep the snapshot they were created with (an overlay lower must never change under it).
//
// Sanitizing (the machine is not trusted with host secrets):
// - files not readable by "other" (mode & 0o004 == 0) and directories not listable by "other" are
//   left out: the host already marked them secret (ssh host keys, /etc/ssl/private, sudoers …);
// - ssh host keys are left out even when world-readable (.pub too: a machine makes its own);
// - shadow/gshadow are regenerated from passwd/group with every password locked ('*');
// - machine-id, hostname and hosts are per machine (written into the machine's upper layer).
import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'

const RECHECK_MS = 10_000
const SKIP = [/^ssh\/ssh_host_[^/]*_key(\.pub)?$/, /^(g?shadow-?|machine-id|hostname|hosts)$/]

export class EtcSnapshots {
  readonly root: string
  private readonly source: string
  private current?: { id: string; checkedAt: number }
  /** Snapshots handed out to a create/rebuild that has not written its machine record yet. */
  private readonly pins = new Map<string, number>()

  /** `source` is the /etc to snapshot (the host's; a fixture in tests). */
  constructor(dataDir: string, opts: { source?: string } = {}) {
    this.root = path.join(dataDir, 'sandbox', 'etc')
    this.source = opts.source ?? '/etc'
  }

  pathOf(id: string): string {
    return path.join(this.root, id)
  }

  /**
   * The snapshot matching host /etc now, built if missing. The fingerprint walk (~5-20 ms) is
   * reused for RECHECK_MS, so a burst of creates pays it once.
   */
  async latest(): Promise<string> {
    const now = Date.now()
    if (this.current && now - this.current.checkedAt < RECHECK_MS && fs.existsSync(this.pathOf(this.current.id))) {
      return this.current.id
    }
    const id = fingerprint(this.source)
    if (!fs.existsSync(this.pathOf(id))) await this.build(id)
    this.current = { id, checkedAt: now }
    return id
  }

  /** latest(), protected from gc() until `release` runs (a create/rebuild in flight). */
  async acquire(): Promise<{ id: string; release: () => void }> {
    const id = await this.latest()
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1)
    let released = false
    return {
      id,
      release: () => {
        if (released) return
        released = true
        const n = (this.pins.get(id) ?? 1) - 1
        if (n > 0) this.pins.set(id, n)
        else this.pins.delete(id)
      },
    }
  }

  /** Deletes snapshots no machine uses (the latest one stays for the next create). */
  async gc(inUse: Set<string>): Promise<void> {
    let names: string[] = []
    try { names = await fsp.readdir(this.root) } catch { return }
    for (const name of names) {
      if (inUse.has(name) || this.pins.has(name) || name === this.current?.id || name.startsWith('.tmp-')) continue
      await fsp.rm(path.join(this.root, name), { recursive: true, force: true })
    }
  }

  private async build(id: string): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o700 })
    const tmp = path.join(this.root, `.tmp-${id}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`)
    try {
      await copyTree(this.source, tmp, '')
      await writeLockedShadow(tmp)
      await fsp.rename(tmp, this.pathOf(id))
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true })
      if (!fs.existsSync(this.pathOf(id))) throw e   // else a concurrent build won the rename
    }
  }
}

function fingerprint(dir: string): string {
  const h = crypto.createHash('sha256')
  const walk = (abs: string, rel: string) => {
    for (const name of fs.readdirSync(abs).sort()) {
      const p = path.join(abs, name)
      const st = fs.lstatSync(p)
      h.update(`${rel}/${name}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${st.ino}\n`)
      if (st.isDirectory()) walk(p, `${rel}/${name}`)
    }
  }
  walk(dir, '')
  return h.digest('hex').slice(0, 16)
}

const skipped = (rel: string) => SKIP.some((re) => re.test(rel))

/** Copies what passes the filter, keeping modes, owners and times; never follows symlinks. */
async function copyTree(src: string, dst: string, rel: string): Promise<void> {
  const st = await fsp.lstat(src)
  await fsp.mkdir(dst, { mode: 0o700 })
  const entries = await fsp.readdir(src, { withFileTypes: true })
  await Promise.all(entries.map(async (e) => {
    const from = path.join(src, e.name)
    const to = path.join(dst, e.name)
    const r = rel ? `${rel}/${e.name}` : e.name
    if (skipped(r)) return
    const est = await fsp.lstat(from)
    if (est.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(from), to)
      await fsp.lchown(to, est.uid, est.gid)
    } else if (est.isDirectory()) {
      if ((est.mode & 0o005) !== 0o005) return
      await copyTree(from, to, r)
    } else if (est.isFile()) {
      if ((est.mode & 0o004) === 0) return
      await fsp.copyFile(from, to)
      await fsp.chown(to, est.uid, est.gid)
      await fsp.chmod(to, est.mode & 0o7777)
      await fsp.utimes(to, est.atime, est.mtime)
    }
    // sockets, fifos, device nodes: never part of a machine's /etc
  }))
  await fsp.chown(dst, st.uid, st.gid)
  await fsp.chmod(dst, st.mode & 0o7777)
  await fsp.utimes(dst, st.atime, st.mtime)
}

/** shadow/gshadow with the host's account names and every password locked. */
async function writeLockedShadow(etc: string): Promise<void> {
  const lines = async (f: string) => (await fsp.readFile(path.join(etc, f), 'utf8').catch(() => '')).split('\n').filter((l) => l && !l.startsWith('#'))
  const today = Math.floor(Date.now() / 86_400_000)
  const users = (await lines('passwd')).map((l) => `${l.split(':')[0]}:*:${today}:0:99999:7:::`)
  const groups = (await lines('group')).map((l) => { const f = l.split(':'); return `${f[0]}:*::${f[3] ?? ''}` })
  const shadowGid = Number((await lines('group')).find((l) => l.startsWith('shadow:'))?.split(':')[2] ?? 0)
  for (const [name, body] of [['shadow', users], ['gshadow', groups]] as const) {
    const file = path.join(etc, name)
    await fsp.writeFile(file, body.join('\n') + '\n', { mode: 0o640 })
    await fsp.chown(file, 0, shadowGid)
  }
}
