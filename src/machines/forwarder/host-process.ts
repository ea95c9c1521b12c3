// Host-side process identity. A pid alone is not an identity (pids are reused), so every
// long-lived process boxd starts (a machine's init, a forwarder) is recorded as pid + the start
// time from /proc/PID/stat (field 22, clock ticks since boot), and is "alive" only while both match.
import fs from 'node:fs'

export interface ProcessRef {
  pid: number
  startTime: string
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces and parens). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** Start time of a running pid (field 22 of /proc/PID/stat), undefined when there is no such process. */
export function procStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19]
}

/** True while `ref` names the same, not yet exited, process. A zombie counts as exited. */
export function isAlive(ref: ProcessRef | undefined): ref is ProcessRef {
  if (!ref) return false
  const f = statFields(ref.pid)
  return f !== undefined && f[19] === ref.startTime && f[0] !== 'Z' && f[0] !== 'X'
}

export function refOf(pid: number): ProcessRef | undefined {
  const startTime = procStartTime(pid)
  return startTime === undefined ? undefined : { pid, startTime }
}

/** Sends a signal if `ref` is still the same process; a vanished process is not an error. */
export function signalRef(ref: ProcessRef | undefined, signal: NodeJS.Signals): void {
  if (!isAlive(ref)) return
  try {
    process.kill(ref.pid, signal)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Polls (starting at 1 ms, backing off to 25 ms) until `done()` or the deadline; returns done(). */
export async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 1; ; delay = Math.min(delay * 2, 25)) {
    if (done()) return true
    if (Date.now() >= deadline) return false
    await sleep(delay)
  }
}

/** Resolves true once the process is gone (or a zombie), false on timeout. */
export function waitGone(ref: ProcessRef | undefined, timeoutMs: number): Promise<boolean> {
  return waitUntil(() => !isAlive(ref), timeoutMs)
}

/**
 * True once no thread of `ref` is left, so its file descriptors (a listening socket) are closed.
 * Stricter than !isAlive: a multi-threaded process (node) shows its main thread as a zombie while
 * other threads are still exiting and still hold the descriptor table.
 */
export function isReleased(ref: ProcessRef): boolean {
  const f = statFields(ref.pid)
  if (f === undefined || f[19] !== ref.startTime) return true
  if (f[0] !== 'Z' && f[0] !== 'X') return false
  try {
    return /^Threads:\s*1$/m.test(fs.readFileSync(`/proc/${ref.pid}/status`, 'utf8'))
  } catch {
    return true
  }
}

/** Resolves true once `ref` is released (see isReleased), false on timeout. */
export function waitReleased(ref: ProcessRef, timeoutMs: number): Promise<boolean> {
  return waitUntil(() => isReleased(ref), timeoutMs)
}
