// Reaching machines: throughput through `port open` and through the machine proxy, each ÷ direct
// loopback TCP to the same kind of server in the same run, and the latency the proxy adds.
//   forward_vs_loopback: a TCP server streams N MiB on connect; read directly vs through a
//     forwarded host port (the forward's Driver.connect dials the same server). Goal ≥ 0.7.
//   proxy_vs_loopback: GET of an N MiB body from an HTTP server, directly vs through the HTTP
//     door's machine proxy (Host web.<domain>, machine token). proxy_https_vs_loopback: the same
//     through the HTTPS listener (TLS included; the baseline stays plain loopback).
//   proxy_added_latency_ms: median of a small GET through the proxy minus directly (keep-alive
//     clients both ways; the proxy opens one connection into the machine per request).
// Three processes, as in real use: the "machine" servers and the client each run in a child
// process, boxd in this one. The driver is a stand-in whose connect() dials the machine servers
// on 127.0.0.1 (no namespaces): this measures boxd's own forwarding cost, not a kernel's.
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'

const dist = new URL('../../dist/src/', import.meta.url)
const { createApp, resolveConfig } = await import(new URL('app.js', dist))
const { createUser } = await import(new URL('auth/accounts.js', dist))
const { publicKeyBlob, publicKeyText } = await import(new URL('auth/sshsig.js', dist))
const { mintToken } = await import(new URL('auth/token.js', dist))
const { startHttpServers } = await import(new URL('http/server.js', dist))

export const title = 'port open and the machine proxy vs direct loopback TCP (throughput, added latency)'

const DOMAIN = 'boxd.localhost'

// The child processes. "server": a TCP server streaming BYTES per connection and an HTTP server
// (/big: BYTES, else "ok"); prints its ports. "client": runs one JSON request per stdin line
// ({op:'tcp'|'http', …}) and answers one JSON line ({mibs, ms} or {error}).
const PEER = `
import { createServer as tcpServer, connect } from 'node:net'
import { createServer as httpServer, request as httpRequest, Agent } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import { createInterface } from 'node:readline'
const [role, bytesArg] = process.argv.slice(-2)
const BYTES = Number(bytesArg)
const CHUNK = Buffer.alloc(256 * 1024, 0x61)
function stream(out, bytes) {
  let left = bytes
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length)
      left -= n
      if (!out.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void out.once('drain', pump)
    }
    out.end()
  }
  pump()
}
const listen = (s) => new Promise((r) => s.listen(0, '127.0.0.1', () => r(s.address().port)))
if (role === 'server') {
  const tcp = tcpServer((s) => { s.on('error', () => {}); stream(s, BYTES) })
  const http = httpServer((req, res) => {
    if (req.url === '/big') { res.writeHead(200, { 'Content-Length': String(BYTES) }); return stream(res, BYTES) }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' }); res.end('ok')
  })
  console.log(JSON.stringify({ tcp: await listen(tcp), http: await listen(http) }))
} else {
  const agents = { http: new Agent({ keepAlive: true, maxSockets: 1 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 1 }) }
  const tcpRead = (o) => new Promise((resolve, reject) => {
    const t0 = performance.now(); let got = 0
    const s = connect(o.port, '127.0.0.1')
    s.on('data', (c) => { got += c.length })
    s.on('end', () => got === o.bytes ? resolve({ mibs: got / 1048576 / ((performance.now() - t0) / 1000) }) : reject(new Error('short read ' + got)))
    s.on('error', reject)
  })
  const httpGet = (o) => new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = (o.https ? httpsRequest : httpRequest)({ host: '127.0.0.1', port: o.port, path: o.path, headers: { Host: o.host, ...o.headers },
      agent: o.keepAlive ? agents[o.https ? 'https' : 'http'] : false, servername: o.https ? o.host : undefined, rejectUnauthorized: false }, (res) => {
      let got = 0
      res.on('data', (c) => { got += c.length })
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error('HTTP ' + res.statusCode))
        const ms = performance.now() - t0
        resolve({ mibs: got / 1048576 / (ms / 1000), ms, bytes: got })
      })
    })
    req.on('error', reject); req.end()
  })
  for await (const line of createInterface({ input: process.stdin })) {
    const o = JSON.parse(line)
    try { console.log(JSON.stringify(await (o.op === 'tcp' ? tcpRead(o) : httpGet(o)))) } catch (e) { console.log(JSON.stringify({ error: String(e.message) })) }
  }
}
`

function peer(role, bytes) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PEER, role, String(bytes)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async () => {
    const { value, done } = await lines.next()
    if (done) throw new Error(`bench ${role} process ended`)
    const r = JSON.parse(value)
    if (r.error) throw new Error(`bench ${role}: ${r.error}`)
    return r
  }
  return { child, next, ask: (o) => { child.stdin.write(`${JSON.stringify(o)}\n`); return next() } }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function run({ quick, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-forward-'))
  const bytes = (quick ? 64 : 256) << 20
  const rounds = quick ? 3 : 5
  const pings = quick ? 300 : 2000
  const server = peer('server', bytes)
  const client = peer('client', bytes)
  const ports = await server.next()

  const targets = { 7000: ports.tcp, 8000: ports.http }
  const ids = new Set()
  const driver = {
    name: 'sandbox',
    check: async () => {}, create: async (s) => { ids.add(s.id) }, start: async () => {}, stop: async () => {},
    remove: async (id) => { ids.delete(id) }, rebuild: async () => {}, list: async () => [...ids],
    status: async (id) => ({ id, state: ids.has(id) ? 'running' : 'missing' }),
    exec: async () => { throw new Error('no exec in the bench driver') },
    connect: (_id, port) => new Promise((resolve, reject) => {
      const s = connect(targets[port], '127.0.0.1')
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    }),
  }

  const config = resolveConfig({ dataDir: dir, domain: DOMAIN, listen: '127.0.0.1', httpPort: 0, httpsPort: 0, portRange: { from: 43000, to: 43999 }, rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 } })
  const app = createApp(config, { log: pino({ level: 'silent' }), driver })
  const { privateKey } = generateKeyPairSync('ed25519')
  const user = createUser(app.services.store, app.services.clock, { email: 'bench@example.com', role: 'user', keyText: `${publicKeyText(publicKeyBlob(privateKey))} bench` })
  const principal = { user: { id: user.id, email: user.email, role: user.role }, via: 'local', keyFingerprint: null }
  const verb = async (line) => {
    const o = await app.dispatcher.dispatch({ line, principal, door: 'local', forceJson: true })
    if (!o.ok) throw new Error(`${line}: ${o.stderr}`)
    return o.data
  }
  await verb('new --name=web')
  await app.services.ports.start()
  const door = await startHttpServers(app)
  const fwd = await verb('port open web 7000')
  const WEB = `web.${DOMAIN}`
  const auth = { 'X-Boxd-Authorization': `Bearer ${mintToken('{}', privateKey, `v0@${WEB}`)}` }
  const big = (https) => ({ op: 'http', https, port: https ? door.ports.https : door.ports.http, host: WEB, path: '/big', headers: auth })

  try {
    // Warm-up: JIT, socket buffers, the token verifier's key cache.
    await client.ask({ op: 'tcp', port: ports.tcp, bytes })
    await client.ask({ op: 'tcp', port: fwd.host_port, bytes })
    await client.ask(big(false))

    const direct = [], forwarded = [], httpDirect = [], proxied = [], proxiedTls = []
    for (let i = 0; i < rounds; i++) {
      // Alternating runs, so drift (thermal, other load) hits both sides alike.
      direct.push((await client.ask({ op: 'tcp', port: ports.tcp, bytes })).mibs)
      forwarded.push((await client.ask({ op: 'tcp', port: fwd.host_port, bytes })).mibs)
      httpDirect.push((await client.ask({ op: 'http', port: ports.http, host: '127.0.0.1', path: '/big' })).mibs)
      proxied.push((await client.ask(big(false))).mibs)
      proxiedTls.push((await client.ask(big(true))).mibs)
    }
    log(`   tcp MiB/s direct ${median(direct).toFixed(0)}, through port open ${median(forwarded).toFixed(0)}`)
    log(`   http MiB/s direct ${median(httpDirect).toFixed(0)}, through the proxy ${median(proxied).toFixed(0)} (https ${median(proxiedTls).toFixed(0)})`)

    const lat = { direct: [], proxy: [], proxyTls: [] }
    for (let i = 0; i < pings; i++) {
      lat.direct.push((await client.ask({ op: 'http', port: ports.http, host: '127.0.0.1', path: '/', keepAlive: true })).ms)
      lat.proxy.push((await client.ask({ op: 'http', port: door.ports.http, host: WEB, path: '/', headers: auth, keepAlive: true })).ms)
      lat.proxyTls.push((await client.ask({ op: 'http', https: true, port: door.ports.https, host: WEB, path: '/', headers: auth, keepAlive: true })).ms)
    }
    log(`   small GET median ms: direct ${median(lat.direct).toFixed(3)}, proxy ${median(lat.proxy).toFixed(3)}, proxy over https ${median(lat.proxyTls).toFixed(3)}`)

    return {
      forward_vs_loopback: median(forwarded) / median(direct),
      proxy_vs_loopback: median(proxied) / median(httpDirect),
      proxy_https_vs_loopback: median(proxiedTls) / median(httpDirect),
      proxy_added_latency_ms: median(lat.proxy) - median(lat.direct),
      proxy_https_added_latency_ms: median(lat.proxyTls) - median(lat.direct),
    }
  } finally {
    server.child.kill()
    client.child.kill()
    await door.close()
    await app.services.ports.stop()
    app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
