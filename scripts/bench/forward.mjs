// Reaching machines: throughput through `port open` and through the machine proxy, each ÷ direct
// loopback TCP to the same server in the same run, and the latency the proxy adds.
//   forward_vs_loopback: a TCP server inside a real machine streams N MiB on connect; read
//     directly (a client in the machine's network namespace, 127.0.0.1) vs from the host through
//     a `port open` host port (the real path: the port's relay process in the machine's network
//     namespace, src/ports/relays.ts). Goal ≥ 0.7.
//   proxy_vs_loopback: GET of an N MiB body from an HTTP server in the machine, directly vs through
//     the HTTP door's machine proxy (Host web.<domain>, machine token; boxd → the machine's
//     forwarder → 127.0.0.1:8000). proxy_https_vs_loopback: the same through the HTTPS listener
//     (TLS included; the baseline stays plain loopback).
//   proxy_added_latency_ms: median of a small GET through the proxy minus directly (keep-alive
//     clients both ways; the proxy opens one connection into the machine per request).
//   forward_via_boxd_vs_loopback: the same transfer through the path port forwards took before
//     relays (and still take on a driver without Driver.netns): boxd's own process accepts and
//     copies into Driver.connect (→ the machine's forwarder → 127.0.0.1:PORT). Kept as the
//     in-run comparison for forward_vs_loopback.
//   forward_real_machine: 1 when the figures above come from a real sandbox machine; 0 when the
//     sandbox driver cannot run here (not root …, or BOXD_BENCH_STAND_IN=1): then a stand-in driver dials servers on the
//     host's 127.0.0.1 (no namespaces, ports served in boxd's process), with the reason printed.
// Processes as in real use: the servers run inside the machine (exec), each client in its own
// process (one in the machine's network namespace for the direct figures, one on the host), boxd
// in this one.
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
const { Forwarder } = await import(new URL('ports/forwarder.js', dist))
const { AllowList, ALLOW_ALL } = await import(new URL('ports/cidr.js', dist))

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
const [role, bytesArg, tcpPort, httpPort] = process.argv.slice(-4)
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
const listen = (s, port) => new Promise((r) => s.listen(Number(port), '127.0.0.1', () => r(s.address().port)))
if (role === 'server') {
  const tcp = tcpServer((s) => { s.on('error', () => {}); stream(s, BYTES) })
  const http = httpServer((req, res) => {
    if (req.url === '/big') { res.writeHead(200, { 'Content-Length': String(BYTES) }); return stream(res, BYTES) }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' }); res.end('ok')
  })
  console.log(JSON.stringify({ tcp: await listen(tcp, tcpPort), http: await listen(http, httpPort) }))
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

// A peer process on the host, or inside the machine's network namespace (netns: the host pid of
// the machine's init), or started by `exec` (a server inside the machine).
function peer(role, bytes, o = {}) {
  const argv = [process.execPath, '--input-type=module', '-e', PEER, role, String(bytes), String(o.tcp ?? 0), String(o.http ?? 0)]
  const child = o.netns ? spawn('nsenter', [`--net=/proc/${o.netns}/ns/net`, '--', ...argv], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
  return talk(role, child, child.stdin, child.stdout, () => child.kill())
}

async function execPeer(driver, id, role, bytes, o) {
  const p = await driver.exec(id, { argv: ['/usr/bin/env', process.execPath, '--input-type=module', '-e', PEER, role, String(bytes), String(o.tcp), String(o.http)] })
  p.stderr.on('data', (d) => process.stderr.write(d))
  return talk(role, p, p.stdin, p.stdout, () => p.kill('SIGKILL'))
}

function talk(role, child, stdin, stdout, kill) {
  const lines = createInterface({ input: stdout })[Symbol.asyncIterator]()
  const next = async () => {
    const { value, done } = await lines.next()
    if (done) throw new Error(`bench ${role} process ended`)
    const r = JSON.parse(value)
    if (r.error) throw new Error(`bench ${role}: ${r.error}`)
    return r
  }
  return { child, kill, next, ask: (o) => { stdin.write(`${JSON.stringify(o)}\n`); return next() } }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** A stand-in driver whose connect() dials the given servers on the host's 127.0.0.1 (no netns). */
function stubDriver(targets) {
  const ids = new Set()
  return {
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
}

export async function run({ quick, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-forward-'))
  const bytes = (quick ? 64 : 256) << 20
  const rounds = quick ? 11 : 21
  const pings = quick ? 300 : 2000
  const TCP = 7000, HTTP = 8000
  const cleanup = []

  let real = true
  try {
    if (process.env.BOXD_BENCH_STAND_IN) throw new Error('BOXD_BENCH_STAND_IN is set')
    const { SandboxDriver } = await import(new URL('machines/sandbox/index.js', dist))
    await new SandboxDriver({ dataDir: dir }).check()
  } catch (e) {
    real = false
    log(`   !! no real machine here (${String(e.message).split('\n')[0]}): a stand-in driver serves from the host's loopback`)
  }

  // Stand-in only: the servers on the host, reached by connect() on 127.0.0.1.
  const hostServer = real ? undefined : peer('server', bytes)
  const hostPorts = hostServer ? await hostServer.next() : undefined
  const config = resolveConfig({
    dataDir: dir, domain: DOMAIN, listen: '127.0.0.1', httpPort: 0, httpsPort: 0, portRange: { from: 43000, to: 43999 },
    rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 }, ...(real ? { driver: 'sandbox' } : {}),
  })
  const app = createApp(config, { log: pino({ level: 'silent' }), ...(real ? {} : { driver: stubDriver({ [TCP]: hostPorts.tcp, [HTTP]: hostPorts.http }) }) })
  const { privateKey } = generateKeyPairSync('ed25519')
  const user = createUser(app.services.store, app.services.clock, { email: 'bench@example.com', role: 'user', keyText: `${publicKeyText(publicKeyBlob(privateKey))} bench` })
  const principal = { user: { id: user.id, email: user.email, role: user.role }, via: 'local', keyFingerprint: null }
  const verb = async (line) => {
    const o = await app.dispatcher.dispatch({ line, principal, door: 'local', forceJson: true })
    if (!o.ok) throw new Error(`${line}: ${o.stderr}`)
    return o.data
  }
  try {
    await verb('new --name=web')
    const machine = app.services.store.machines.byName('web')
    cleanup.push(() => app.services.machines.remove(machine))
    await app.services.ports.start()
    cleanup.push(() => app.services.ports.stop())
    const door = await startHttpServers(app)
    cleanup.push(() => door.close())

    let server, inside, ports
    if (real) {
      const { driver } = app.services.machines
      server = await execPeer(driver, machine.id, 'server', bytes, { tcp: TCP, http: HTTP })
      ports = await server.next()
      inside = peer('client', bytes, { netns: (await driver.netns(machine.id)).pid })
    } else {
      server = hostServer
      ports = hostPorts
      inside = peer('client', bytes)
    }
    cleanup.push(() => server.kill(), () => inside.kill())
    const outside = peer('client', bytes)
    cleanup.push(() => outside.kill())

    const fwd = await verb(`port open web ${TCP}`)
    const viaBoxd = new Forwarder(new AllowList(ALLOW_ALL), () => app.services.machines.driver.connect(machine.id, TCP), pino({ level: 'silent' }), 'bench')
    await viaBoxd.listen('127.0.0.1', 0)
    cleanup.push(() => viaBoxd.close())
    const viaBoxdPort = viaBoxd.server.address().port
    const WEB = `web.${DOMAIN}`
    const auth = { 'X-Boxd-Authorization': `Bearer ${mintToken('{}', privateKey, `v0@${WEB}`)}` }
    const big = (https) => ({ op: 'http', https, port: https ? door.ports.https : door.ports.http, host: WEB, path: '/big', headers: auth })
    const directTcp = { op: 'tcp', port: ports.tcp, bytes }
    const directHttp = (path, keepAlive) => ({ op: 'http', port: ports.http, host: '127.0.0.1', path, keepAlive })

    // Warm-up: JIT, socket buffers, the relay and forwarder, the token verifier's key cache.
    await inside.ask(directTcp)
    await outside.ask({ op: 'tcp', port: fwd.host_port, bytes })
    await outside.ask({ op: 'tcp', port: viaBoxdPort, bytes })
    await outside.ask(big(false))

    // Paired rounds: each forwarded (proxied) transfer is divided by the direct one run right next
    // to it, in alternating order, and the ratio reported is the median of those: on a shared
    // 2-core box the direct rate alone swings 2x between rounds (other load, which core each
    // process lands on), and pairing cancels that drift where a ratio of medians would not.
    const direct = [], forwarded = [], httpDirect = [], proxied = [], proxiedTls = []
    const tcpRatio = [], httpRatio = [], httpsRatio = [], viaBoxdRatio = [], viaBoxdRate = []
    for (let i = 0; i < rounds; i++) {
      const d = () => inside.ask(directTcp).then((r) => r.mibs)
      const f = () => outside.ask({ op: 'tcp', port: fwd.host_port, bytes }).then((r) => r.mibs)
      const v = () => outside.ask({ op: 'tcp', port: viaBoxdPort, bytes }).then((r) => r.mibs)
      const [dt, ft] = i % 2 ? [await d(), await f()] : [(await f()), await d()].reverse()
      direct.push(dt); forwarded.push(ft); tcpRatio.push(ft / dt)
      const [d2, vb] = i % 2 ? [await d(), await v()] : [(await v()), await d()].reverse()
      viaBoxdRate.push(vb); viaBoxdRatio.push(vb / d2)
      const hd = (await inside.ask(directHttp('/big'))).mibs
      const hp = (await outside.ask(big(false))).mibs
      const hs = (await outside.ask(big(true))).mibs
      httpDirect.push(hd); proxied.push(hp); proxiedTls.push(hs); httpRatio.push(hp / hd); httpsRatio.push(hs / hd)
    }
    if (process.env.BOXD_BENCH_DEBUG) log(`   rounds direct ${direct.map((x) => x.toFixed(0))} forwarded ${forwarded.map((x) => x.toFixed(0))}`)
    log(`   ${real ? 'real sandbox machine' : 'stand-in driver'}; tcp MiB/s direct ${median(direct).toFixed(0)}, through port open ${median(forwarded).toFixed(0)} (via boxd's process ${median(viaBoxdRate).toFixed(0)})`)
    log(`   http MiB/s direct ${median(httpDirect).toFixed(0)}, through the proxy ${median(proxied).toFixed(0)} (https ${median(proxiedTls).toFixed(0)})`)

    const lat = { direct: [], proxy: [], proxyTls: [] }
    for (let i = 0; i < pings; i++) {
      lat.direct.push((await inside.ask(directHttp('/', true))).ms)
      lat.proxy.push((await outside.ask({ op: 'http', port: door.ports.http, host: WEB, path: '/', headers: auth, keepAlive: true })).ms)
      lat.proxyTls.push((await outside.ask({ op: 'http', https: true, port: door.ports.https, host: WEB, path: '/', headers: auth, keepAlive: true })).ms)
    }
    log(`   small GET median ms: direct ${median(lat.direct).toFixed(3)}, proxy ${median(lat.proxy).toFixed(3)}, proxy over https ${median(lat.proxyTls).toFixed(3)}`)

    return {
      forward_vs_loopback: median(tcpRatio),
      forward_via_boxd_vs_loopback: median(viaBoxdRatio),
      proxy_vs_loopback: median(httpRatio),
      proxy_https_vs_loopback: median(httpsRatio),
      proxy_added_latency_ms: median(lat.proxy) - median(lat.direct),
      proxy_https_added_latency_ms: median(lat.proxyTls) - median(lat.direct),
      forward_real_machine: real ? 1 : 0,
    }
  } finally {
    for (const f of cleanup.reverse()) await Promise.resolve().then(f).catch((e) => log(`   cleanup: ${e.message}`))
    app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
