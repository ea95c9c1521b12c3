// Machines through the real doors: the real `boxd serve` binary in its own process, driven by the
// real OpenSSH client from this one, one operation at a time (no overlap).
//
//   new_p50_ms     sandbox driver: from sending `new --name=X` on an open SSH connection (an
//                  in-process ssh2 client, already authenticated to the lobby) to the first
//                  successful `true` in X over a NEW SSH connection as X@host (key exchange,
//                  publickey auth, exec). What the machine costs, without an ssh process spawn.
//   start_p50_ms   the same for `start X` of a stopped machine. Goals ≤ 150 and ≤ 50.
//   new_openssh_p50_ms, start_openssh_p50_ms   the same measured with the real OpenSSH client,
//                  one process per step: from issuing `ssh host new --name=X` to the first successful
//                  `ssh X@host true`. Includes two OpenSSH client runs (process spawn, key
//                  exchange, publickey auth, one exec channel each), the verb (SQLite reserve,
//                  the machine's disk: a root dir plus overlay upper/work dirs of the host's /usr,
//                  /etc snapshot …; boot: namespaces, cgroup, mounts, pivot_root, init) and the
//                  first exec inside the machine (nsenter). The first `new` of a server (one-time
//                  /etc snapshot, host tool discovery) is a warm-up, not counted. start: the same
//                  for `ssh host start X` of a stopped machine (stop is not timed).
//   new_verb_p50_ms, start_verb_p50_ms   the `ssh host new|start` run alone (one ssh client run).
//   machine_ssh_p50_ms   the same-run baseline: `ssh X@host true` into a running machine — the
//                  cost of one ssh client run that both figures above contain (twice for new).
//   docker_*       the same with --driver docker and the tiny boxd-test:busybox image
//                  (scripts/docker-test-image.sh), when a Docker engine answers; else NaN.
//   ssh_flood_whoami_ms  median `ssh host whoami` while 200 unauthenticated connections are held
//                  open against the default admission cap (64): silent TCP, version line only,
//                  key exchange without auth. ssh_flood_whoami_vs_calm: ÷ the same without flood.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NO_RATE_LIMITS, median, ssh, sshKeygen, sshOk, startServe } from './boxd-process.mjs'

export const title = '`new` / `start` until ssh-able through the real binary (sandbox; docker when an engine answers); ssh login under a flood'

const root = fileURLToPath(new URL('../..', import.meta.url))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const now = () => Number(process.hrtime.bigint()) / 1e6

async function dockerProblem() {
  try {
    const { default: Docker } = await import('dockerode')
    await Promise.race([new Docker().ping(), sleep(3000).then(() => { throw new Error('ping timed out') })])
    await new Promise((resolve, reject) => execFile(join(root, 'scripts/docker-test-image.sh'), (e, _o, err) => (e ? reject(new Error(err || e.message)) : resolve())))
    return undefined
  } catch (e) {
    return String(e?.message ?? e).split('\n')[0]
  }
}

/** `rounds` × (new until ssh-able, then start of the stopped machine until ssh-able) on one driver. */
async function lifecycle({ dir, key, driverArgs, prefix, rounds, log, label, during }) {
  const server = await startServe(join(dir, `data-${prefix}`), [
    ...NO_RATE_LIMITS, '--max-machines', '1000', '--admin-key', `${key}.pub`, '--admin-email', 'bench@example.com', ...driverArgs,
  ])
  const lobby = (cmd) => sshOk(key, server.sshPort, 'boxd@127.0.0.1', cmd)
  const made = []
  const untilSshable = async (name) => {
    for (let i = 0; ; i++) {
      const r = await ssh(key, server.sshPort, `${name}@127.0.0.1`, 'true')
      if (r.code === 0) return
      if (i >= 50) throw new Error(`${name} never became ssh-able: exit ${r.code} ${r.stderr.trim()}`)
      await sleep(10)
    }
  }
  try {
    // Warm-up: one-time costs of a server's first machine, and the client's first run.
    await lobby(`new --name=${prefix}warm`)
    made.push(`${prefix}warm`)
    await untilSshable(`${prefix}warm`)
    const t = { new: [], newVerb: [], start: [], startVerb: [], sshTrue: [] }
    const names = Array.from({ length: rounds }, (_, i) => `${prefix}m${i}`)
    for (const name of names) {
      const t0 = now()
      t.newVerb.push((await lobby(`new --name=${name}`)).ms)
      made.push(name)
      await untilSshable(name)
      t.new.push(now() - t0)
      t.sshTrue.push((await sshOk(key, server.sshPort, `${name}@127.0.0.1`, 'true')).ms)
    }
    for (const name of names) {
      await lobby(`stop ${name}`)
      const t0 = now()
      t.startVerb.push((await lobby(`start ${name}`)).ms)
      await untilSshable(name)
      t.start.push(now() - t0)
    }
    // The same lifecycle with an in-process SSH client: one lobby connection kept open for the
    // verbs, a fresh connection as NAME@host for each readiness check (no process spawns).
    t.newInProcess = []
    t.startInProcess = []
    const privateKey = readFileSync(key)
    const lobbyConn = await ssh2Connect(server.sshPort, 'boxd', privateKey)
    try {
      const verb = async (cmd) => { const r = await ssh2Exec(lobbyConn, cmd); if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}`) }
      const names2 = Array.from({ length: rounds }, (_, i) => `${prefix}p${i}`)
      for (const name of names2) {
        const t0 = now()
        await verb(`new --name=${name}`)
        made.push(name)
        await sshableInProcess(server.sshPort, name, privateKey)
        t.newInProcess.push(now() - t0)
      }
      for (const name of names2) {
        await verb(`stop ${name}`)
        const t0 = now()
        await verb(`start ${name}`)
        await sshableInProcess(server.sshPort, name, privateKey)
        t.startInProcess.push(now() - t0)
      }
    } finally {
      lobbyConn.end()
    }
    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]))
    log(`   ${label} (in-process ssh client): new until ssh-able p50 ${m.newInProcess.toFixed(0)} ms, start until ssh-able p50 ${m.startInProcess.toFixed(0)} ms`)
    log(`   ${label}: new until ssh-able p50 ${m.new.toFixed(0)} ms (verb ${m.newVerb.toFixed(0)}), start until ssh-able p50 ${m.start.toFixed(0)} ms (verb ${m.startVerb.toFixed(0)}); ssh true into a running machine p50 ${m.sshTrue.toFixed(0)} ms (${rounds} machines)`)
    const extra = during ? await during(server) : {}
    return { ...m, ...extra }
  } finally {
    if (made.length) await lobby(`rm ${made.join(' ')}`).catch((e) => log(`   !! cleanup: ${e.message}`))
    await server.stop()
  }
}

async function ssh2Connect(port, username, privateKey) {
  const { default: ssh2 } = await import('ssh2')
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client()
    c.once('ready', () => resolve(c))
    c.once('error', reject)
    // TCP_NODELAY as an interactive client would set: without it, each small SSH packet can wait
    // on the server's delayed ACK (~40 ms per round trip), which would time Nagle, not boxd.
    c.connect({ sock: connect({ host: '127.0.0.1', port, noDelay: true }), username, privateKey, readyTimeout: 30_000 })
  })
}

function ssh2Exec(conn, command) {
  return new Promise((resolve, reject) => conn.exec(command, (err, ch) => {
    if (err) return reject(err)
    ch.resume()
    ch.stderr.resume()
    ch.once('close', (code) => resolve({ code }))
  }))
}

/** Until `true` runs inside NAME over a new connection as NAME@host (else the lobby answers 5). */
async function sshableInProcess(port, name, privateKey) {
  for (let i = 0; ; i++) {
    const c = await ssh2Connect(port, name, privateKey)
    try {
      if ((await ssh2Exec(c, 'true')).code === 0) return
    } finally {
      c.end()
    }
    if (i >= 100) throw new Error(`${name} never became ssh-able`)
    await sleep(5)
  }
}

/** `ssh host whoami` calm, then with 200 unauthenticated connections held open (default cap 64). */
async function flood(server, key, dir, log) {
  const { default: ssh2 } = await import('ssh2')
  const whoami = async () => (await sshOk(key, server.sshPort, 'boxd@127.0.0.1', 'whoami')).ms
  const calm = []
  for (let i = 0; i < 5; i++) calm.push(await whoami())
  const attackerKey = readFileSync(await sshKeygen(join(dir, 'attacker'), 'attacker'))
  const conns = []
  const open = (kind) => new Promise((resolve, reject) => {
    if (kind === 2) {
      const c = new ssh2.Client()
      let held = false
      c.on('error', (e) => { if (!held) reject(e) })
      c.connect({ host: '127.0.0.1', port: server.sshPort, username: 'intruder', privateKey: attackerKey, readyTimeout: 300_000, authHandler: () => { if (!held) { held = true; resolve(c) } } })
      conns.push({ close: () => c.end() })
      return
    }
    const s = connect(server.sshPort, '127.0.0.1', () => { if (kind === 1) s.write('SSH-2.0-flood_1.0\r\n'); resolve(s) })
    s.resume()
    s.on('error', () => {})
    s.once('error', reject)
    conns.push({ close: () => s.destroy() })
  })
  try {
    for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => open([0, 1, 0, 2][(i + j) % 4])))
    await sleep(500)
    const flooded = []
    for (let i = 0; i < 5; i++) flooded.push(await whoami())
    log(`   ssh whoami under a 200-connection unauthenticated flood: p50 ${median(flooded).toFixed(0)} ms, calm ${median(calm).toFixed(0)} ms`)
    return { ssh_flood_whoami_ms: median(flooded), ssh_flood_whoami_vs_calm: median(flooded) / median(calm) }
  } finally {
    for (const c of conns) c.close()
  }
}

export async function run({ quick, log }) {
  if (process.getuid?.() !== 0) throw new Error('the sandbox driver needs root')
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-machines-'))
  try {
    const key = await sshKeygen(join(dir, 'id_ed25519'))
    const sb = await lifecycle({
      dir, key, driverArgs: ['--driver', 'sandbox'], prefix: 'sb', rounds: quick ? 10 : 30, log, label: 'sandbox',
      during: (server) => flood(server, key, dir, log),
    })
    const out = {
      new_p50_ms: sb.newInProcess, start_p50_ms: sb.startInProcess, new_openssh_p50_ms: sb.new, start_openssh_p50_ms: sb.start, new_verb_p50_ms: sb.newVerb, start_verb_p50_ms: sb.startVerb, machine_ssh_p50_ms: sb.sshTrue,
      ssh_flood_whoami_ms: sb.ssh_flood_whoami_ms, ssh_flood_whoami_vs_calm: sb.ssh_flood_whoami_vs_calm,
      docker_new_p50_ms: NaN, docker_start_p50_ms: NaN, docker_new_openssh_p50_ms: NaN, docker_start_openssh_p50_ms: NaN, docker_machine_ssh_p50_ms: NaN,
    }
    const problem = await dockerProblem()
    if (problem) {
      log(`   docker: skipped (${problem})`)
    } else {
      const d = await lifecycle({ dir, key, driverArgs: ['--driver', 'docker', '--default-image', 'boxd-test:busybox'], prefix: 'dk', rounds: quick ? 4 : 10, log, label: 'docker' })
      Object.assign(out, { docker_new_p50_ms: d.newInProcess, docker_start_p50_ms: d.startInProcess, docker_new_openssh_p50_ms: d.new, docker_start_openssh_p50_ms: d.start, docker_machine_ssh_p50_ms: d.sshTrue })
    }
    return out
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
