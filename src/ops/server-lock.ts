// A running server announces itself with boxd.pid in its data dir, so offline tools that must not
// run under it (`boxd restore`) can refuse. Advisory: a stale file from a crash is ignored when
// its process is gone.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const PID_FILE = 'boxd.pid'

/** Write our pid; returns the release function (removes the file only if it is still ours). */
export function writePidFile(dataDir: string): () => void {
  const path = join(dataDir, PID_FILE)
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644 })
  return () => {
    if (readPid(path) === process.pid) rmSync(path, { force: true })
  }
}

/** The pid of a live server process on this data dir, if any. */
export function runningServerPid(dataDir: string): number | undefined {
  const pid = readPid(join(dataDir, PID_FILE))
  if (pid === undefined) return undefined
  try {
    process.kill(pid, 0)
    return pid
  } catch (e) {
    // EPERM: it exists, under another user; ESRCH: gone (a crash left the file behind).
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}

function readPid(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim())
    return Number.isInteger(n) && n > 0 ? n : undefined
  } catch {
    return undefined
  }
}
