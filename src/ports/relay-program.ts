// The per-port relay program: one detached node process per forwarded host port, started with
//   nsenter --net=/proc/<machine pid>/ns/net node relay.cjs <forward id> <target pid> <target start time> <port> <allow JSON>
// and given, as fd 3, the listening socket boxd bound on the host (relays.ts). A socket keeps the
// network namespace it was created in: the relay accepts on the host's listener while its own
// connect('127.0.0.1', port) happens in the machine's namespace. No IP address of the machine is
// ever used (ARCHITECTURE.md "Machines"), and boxd's own process never touches the bytes.
//
// Per accepted connection:
//   1. Security gate: the source must be in the forward's --to allow-list (the same BlockList
//      rules as src/ports/cidr.ts). A source outside it gets a reset before a byte is read
//      (pauseOnConnect) and before the machine is contacted.
//   2. connect 127.0.0.1:<port> inside the machine (bounded), then bridge.ts both ways.
// It writes "ready\n" to stdout once it accepts, and nothing after. It exits by itself when the
// machine's init (pid + start time) is gone, so it never outlives the machine or holds a dead
// network namespace; boxd kills it on `port close` and machine stop/rm.
//
// Shipped as source text written to the data dir, like the forwarder (forwarder/script.ts).
import { BRIDGE_SOURCE } from '../machines/forwarder/bridge.js'
import { writeProgramFile } from '../machines/forwarder/script.js'

export const RELAY_SOURCE = String.raw`'use strict'
const net = require('node:net')
const fs = require('node:fs')
const os = require('node:os')

${BRIDGE_SOURCE}
const [fwdId, targetPid, targetStart, portText, allowJson] = process.argv.slice(2)
const PORT = Number(portText)
const MAX_CONNECTIONS = 1024
const CONNECT_TIMEOUT_MS = 10000

function targetAlive() {
  try {
    const stat = fs.readFileSync('/proc/' + targetPid + '/stat', 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return f[19] === targetStart && f[0] !== 'Z'
  } catch {
    return false
  }
}

const allow = new net.BlockList()
for (const cidr of JSON.parse(allowJson)) {
  const [addr, prefix] = cidr.split('/')
  allow.addSubnet(addr, Number(prefix), net.isIP(addr) === 4 ? 'ipv4' : 'ipv6')
}
function allows(remote) {
  if (!remote) return false
  // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d: matched as IPv4 (cidr.ts).
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote)
  const addr = mapped ? mapped[1] : remote
  const family = net.isIP(addr)
  if (family === 0) return false
  return allow.check(addr, family === 4 ? 'ipv4' : 'ipv6')
}

let live = 0
function accept(raw) {
  if (!allows(raw.remoteAddress) || live >= MAX_CONNECTIONS) return raw.resetAndDestroy()
  live++
  const rc = bridgeReader()
  const ru = bridgeReader()
  const client = adoptAccepted(raw, rc)
  client.once('close', () => { live-- })
  client.on('error', () => client.destroy())
  const up = net.connect({ host: '127.0.0.1', port: PORT, allowHalfOpen: true, onread: ru.onread })
  const timer = setTimeout(() => up.destroy(new Error('timed out reaching the machine')), CONNECT_TIMEOUT_MS)
  const gone = () => up.destroy()
  client.once('close', gone)
  up.once('error', () => { clearTimeout(timer); client.destroy() })
  up.once('connect', () => {
    clearTimeout(timer)
    client.off('close', gone)
    if (client.destroyed) return up.destroy()
    bridgeJoin(client, rc, up, ru)
  })
}

if (!targetAlive()) process.exit(0)
const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, accept)
server.on('error', (e) => { console.error('relay ' + fwdId + ': ' + e.message); process.exit(1) })
server.listen({ fd: 3 }, () => {
  try { os.setPriority(0) } catch {}   // started niced (see relays.ts)
  process.stdout.write('ready\n')
})
setInterval(() => { if (!targetAlive()) process.exit(0) }, 1000)
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
`

/** Writes the relay program to `<dir>/relay.cjs` (only when it changed) and returns its path. */
export function writeRelayScript(dir: string): string {
  return writeProgramFile(dir, 'relay.cjs', RELAY_SOURCE)
}
