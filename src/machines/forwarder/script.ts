// The forwarder program. It runs as its own detached node process, started with
//   nsenter --net=/proc/<machine pid>/ns/net node forwarder.cjs <socket> <target pid> <target start time>
// so it lives in the machine's network namespace (its 127.0.0.1 is the machine's) while staying
// in the host's mount namespace (its unix socket is a file in boxd's data dir).
//
// Wire protocol on the unix socket, one stream per connection:
//   client → forwarder   "<port>\n"                then raw bytes
//   forwarder → client   "OK\n"                    then raw bytes, once 127.0.0.1:<port> accepted
//                        "ERR <code> <message>\n"  and close, when it did not (ECONNREFUSED …)
// Bytes are copied both ways by bridge.ts (one reused buffer per direction, backpressure,
// half-close kept), never buffered whole.
// It exits by itself when the machine's init (pid + start time) is gone or its socket file was
// removed or replaced, so it never holds a dead machine's network namespace alive.
//
// It is shipped as source text (written to the data dir at startup) rather than as a module file,
// because the build only emits compiled .ts and the tests run from source: one program either way.
import fs from 'node:fs'
import path from 'node:path'
import { BRIDGE_SOURCE } from './bridge.js'

export const FORWARDER_SOURCE = String.raw`'use strict'
const net = require('node:net')
const fs = require('node:fs')

${BRIDGE_SOURCE}
const [sockPath, targetPid, targetStart] = process.argv.slice(2)
const MAX_HEADER = 16
process.title = 'boxd-forwarder'

function targetAlive() {
  try {
    const stat = fs.readFileSync('/proc/' + targetPid + '/stat', 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return f[19] === targetStart && f[0] !== 'Z'
  } catch {
    return false
  }
}

function handle(raw) {
  const rc = bridgeReader()
  const client = adoptAccepted(raw, rc)
  client.on('error', () => client.destroy())
  // After an ERR reply: read and drop whatever comes, so the client's FIN is seen and we close.
  const refuse = (msg) => {
    rc.onEarly = () => { rc.early = null; return true }
    client.once('end', () => client.destroy())
    client.end(msg)
    client.resume()
  }
  rc.onEarly = (header) => {
    const nl = header.indexOf(10)
    if (nl < 0) {
      if (header.length > MAX_HEADER) client.destroy()
      return true
    }
    const text = header.subarray(0, nl).toString()
    rc.early = header.subarray(nl + 1)
    const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : 0
    if (port < 1 || port > 65535) { refuse('ERR EINVAL bad port\n'); return true }
    const ru = bridgeReader()
    const upstream = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, onread: ru.onread })
    const gone = () => upstream.destroy()
    client.once('close', gone)
    const refused = (e) => { client.off('close', gone); if (!client.destroyed) refuse('ERR ' + (e.code || 'EIO') + ' ' + e.message + '\n') }
    upstream.once('error', refused)
    upstream.once('connect', () => {
      upstream.off('error', refused)
      client.off('close', gone)
      if (client.destroyed) return upstream.destroy()
      client.write('OK\n')
      bridgeJoin(client, rc, upstream, ru)
    })
    return false
  }
  client.resume()
}

function exitClean() {
  try {
    if (fs.statSync(sockPath).ino === ownIno) fs.unlinkSync(sockPath)
  } catch {}
  process.exit(0)
}

if (!targetAlive()) process.exit(0)
let ownIno = -1
process.umask(0o177)    // the socket is created 0600: only root (boxd) may dial into a machine
try { fs.unlinkSync(sockPath) } catch {}
const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, handle)
server.listen(sockPath, () => {
  ownIno = fs.statSync(sockPath).ino
  try { require('node:os').setPriority(0) } catch {}   // started niced (see spawnForwarder)
})
setInterval(() => {
  let ino = -2
  try { ino = fs.statSync(sockPath).ino } catch {}
  if (!targetAlive() || (ownIno !== -1 && ino !== ownIno)) exitClean()
}, 1000)
process.on('SIGTERM', exitClean)
process.on('SIGINT', exitClean)
`

/** Writes the forwarder program to `<dir>/forwarder.cjs` (only when it changed) and returns its path. */
export function writeForwarderScript(dir: string): string {
  return writeProgramFile(dir, 'forwarder.cjs', FORWARDER_SOURCE)
}

/**
 * Writes a helper program (run by detached processes) to `<dir>/<name>` only when it changed,
 * atomically (a running process may be reading the old one), mode 0600; returns its path.
 */
export function writeProgramFile(dir: string, name: string, source: string): string {
  const file = path.join(dir, name)
  let current: string | undefined
  try { current = fs.readFileSync(file, 'utf8') } catch { /* first run */ }
  if (current !== source) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, source, { mode: 0o600 })
    fs.renameSync(tmp, file)
  }
  return file
}
