// Host side of the forwarder: dial a machine's forwarder socket, start a stream to a port inside
// the machine, and spawn/respawn the forwarder process itself. Shared by both drivers.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { DriverError } from '../driver.js'
import { isAlive, refOf, sleep, waitUntil, type ProcessRef } from './host-process.js'

const MAX_REPLY = 512

/** Errors meaning "no forwarder answers on this socket" (as opposed to "the port is closed"). */
export function isForwarderDown(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE'
}

/**
 * Opens a stream to 127.0.0.1:port inside the machine through its forwarder socket.
 * Resolves with the socket once the forwarder said OK (the port accepted); rejects with a
 * DriverError('refused') when nothing listens, or with the raw socket error when no forwarder answers.
 */
export function dialForwarder(sockPath: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return Promise.reject(new DriverError('invalid', `invalid port ${port}: expected 1-65535`))
  }
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path: sockPath, allowHalfOpen: true })
    let reply = Buffer.alloc(0)
    const cleanup = () => {
      clearTimeout(timer)
      sock.off('error', fail)
      sock.off('readable', onReadable)
      sock.off('end', onEnd)
    }
    const fail = (err: Error) => {
      cleanup()
      sock.destroy()
      reject(err)
    }
    const onEnd = () => fail(new DriverError('unavailable', 'machine forwarder closed the stream before answering'))
    // 'readable' + read() (not 'data'): once the listener is gone the socket is back in its
    // initial mode, so the caller's 'data' listener or pipe() starts the flow and no byte is lost.
    const onReadable = () => {
      let chunk: Buffer | null
      while ((chunk = sock.read() as Buffer | null) !== null) {
        reply = Buffer.concat([reply, chunk])
        const nl = reply.indexOf(10)
        if (nl < 0) {
          if (reply.length > MAX_REPLY) return fail(new DriverError('unavailable', 'machine forwarder sent a malformed reply'))
          continue
        }
        const line = reply.subarray(0, nl).toString()
        if (line !== 'OK') {
          const detail = line.replace(/^ERR\s*/, '')
          return fail(new DriverError('refused', `nothing accepts connections on port ${port} inside the machine (${detail})`))
        }
        cleanup()
        const rest = reply.subarray(nl + 1)
        if (rest.length) sock.unshift(rest)
        return resolve(sock)
      }
    }
    const timer = setTimeout(() => fail(new DriverError('unavailable', `machine forwarder did not answer within ${timeoutMs} ms`)), timeoutMs)
    sock.on('error', fail)
    sock.on('readable', onReadable)
    sock.on('end', onEnd)
    sock.once('connect', () => sock.write(`${port}\n`))
  })
}

export interface ForwarderSpawn {
  nsenter: string
  node: string
  script: string
  sockPath: string
  /** Process whose network namespace the forwarder joins and whose death ends the forwarder. */
  target: ProcessRef
  logFile: string
}

/**
 * Starts the forwarder detached (own session, stdio to a log file), so it outlives the boxd
 * process. Returns at once: the caller waits for the socket only when it actually needs it.
 */
export function spawnForwarder(o: ForwarderSpawn): ProcessRef {
  const log = fs.openSync(o.logFile, 'a', 0o600)
  try {
    const child = spawn(o.nsenter, [
      `--net=/proc/${o.target.pid}/ns/net`, '--',
      o.node, '--max-old-space-size=64', o.script, o.sockPath, String(o.target.pid), o.target.startTime,
    ], { detached: true, stdio: ['ignore', log, log], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: '/' })
    child.on('error', () => { /* reported through the missing socket */ })
    child.unref()
    // Node's ~40 ms of startup CPU must not compete with the machine that is booting or being
    // exec'd into right now: start niced; the forwarder returns to normal once it listens.
    try { if (child.pid) os.setPriority(child.pid, 10) } catch { /* best effort */ }
    const ref = child.pid === undefined ? undefined : refOf(child.pid)
    if (!ref) throw new DriverError('unavailable', `could not start the machine forwarder (${o.nsenter})`)
    return ref
  } finally {
    fs.closeSync(log)
  }
}

/** Waits until the forwarder socket exists (or the forwarder died); bounded. */
export async function waitForSocket(sockPath: string, forwarder: ProcessRef, timeoutMs = 5000): Promise<void> {
  const ok = await waitUntil(() => fs.existsSync(sockPath) || !isAlive(forwarder), timeoutMs)
  if (!ok || !fs.existsSync(sockPath)) {
    throw new DriverError('unavailable', `machine forwarder did not come up within ${timeoutMs} ms`)
  }
}

/**
 * dialForwarder, starting (or restarting) the forwarder when none answers: it may have been
 * killed, or not be listening yet right after a start. `start` spawns one and records it.
 */
export async function dialWithRespawn(o: {
  sockPath: string
  port: number
  forwarder: ProcessRef | undefined
  start: () => ProcessRef
}): Promise<net.Socket> {
  let forwarder = o.forwarder
  for (let attempt = 0; ; attempt++) {
    try {
      return await dialForwarder(o.sockPath, o.port)
    } catch (e) {
      if (!isForwarderDown(e) || attempt >= 3) throw e
    }
    if (!isAlive(forwarder)) {
      fs.rmSync(o.sockPath, { force: true })     // a stale socket would look like a live forwarder
      forwarder = o.start()
    }
    await waitForSocket(o.sockPath, forwarder)
    if (attempt > 0) await sleep(10 * attempt)   // bound between bind() and listen(): give it a moment
  }
}
