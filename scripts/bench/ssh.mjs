// SSH door benchmark (run by scripts/bench/run.mjs; needs `npm run build` first).
//
//   ssh_exec_vs_openssh       median wall time of `ssh host whoami` against boxd ÷ `ssh host true`
//                             against Debian's OpenSSH sshd (ForceCommand true), same client, same
//                             key, alternating runs. Goal ≤ 1.0.
//   ssh_handshakes_per_s_*    connect + key exchange + publickey auth + disconnect per second
//                             (ssh2 client, in a separate process, a few in parallel), each server.
//   ssh_handshakes_vs_openssh boxd ÷ sshd handshakes/s (higher is better).
//   ssh_idle_session_kb       server RSS growth per open, authenticated, idle lobby session
//                             (1000 sessions; 200 with --quick), held by a separate client process.
//
// This file is also its own load generator: `node ssh.mjs --load <mode> …` (see load() below).
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const title = '`ssh host whoami` vs OpenSSH sshd, handshakes/s, idle session memory'

const root = fileURLToPath(new URL('../..', import.meta.url))
const self = fileURLToPath(import.meta.url)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const clientOpts = (key, port) => [
  '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-i', key, '-p', String(port),
]

function sh(cmd, args, timeout = 20_000) {
  return new Promise((resolveP, reject) => execFile(cmd, args, { timeout, encoding: 'utf8' }, (e, out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')}: ${e.message} ${err}`)) : resolveP(out))))
}

async function waitPort(port, ms = 10_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); r(true) })
      s.on('error', () => r(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`port ${port} never opened`)
    await sleep(50)
  }
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** boxd's SSH door alone (no HTTP door), in its own process so its RSS is its own. */
async function startBoxd(dir, pub) {
  const script = join(dir, 'boxd-ssh.mjs')
  writeFileSync(script, `
    import { createApp, resolveConfig } from ${JSON.stringify(pathToFileURL(join(root, 'dist/src/app.js')).href)}
    import { startSshServer } from ${JSON.stringify(pathToFileURL(join(root, 'dist/src/ssh/server.js')).href)}
    const config = resolveConfig({ dataDir: ${JSON.stringify(join(dir, 'data'))}, sshPort: 0, listen: '127.0.0.1',
      adminKey: ${JSON.stringify(pub)}, adminEmail: 'bench@example.com',
      sshLimits: { maxUnauthenticated: 256, maxChannelsPerConnection: 10 },
      // The limiter still runs on every request; it just never refuses the bench's hundreds.
      rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 } })
    const app = createApp(config)
    const door = await startSshServer(app)
    process.stdout.write('PORT ' + door.port + '\\n')
    process.on('SIGTERM', async () => { await door.close(); app.close(); process.exit(0) })
    // The bench asks for a full GC before reading RSS, so garbage does not count as sessions.
    process.on('SIGUSR2', () => { globalThis.gc?.(); globalThis.gc?.(); process.stdout.write('GC\\n') })
  `)
  // Logs at warn: a line per login would measure pino, not the door (sshd below logs as usual).
  const child = spawn(process.execPath, ['--expose-gc', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BOXD_LOG_LEVEL: 'warn' } })
  let out = ''
  child.stdout.on('data', (c) => (out += c))
  const deadline = Date.now() + 15_000
  while (!/PORT (\d+)/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`boxd did not start: ${out}`)
    await sleep(20)
  }
  const gc = async () => {
    const seen = (out.match(/GC\n/g) ?? []).length
    child.kill('SIGUSR2')
    const until = Date.now() + 5000
    while ((out.match(/GC\n/g) ?? []).length === seen && Date.now() < until) await sleep(20)
  }
  return { port: Number(/PORT (\d+)/.exec(out)[1]), pid: child.pid, gc, stop: () => { child.kill('SIGTERM') } }
}

/** OpenSSH's sshd on a loopback port with its own config: same user key, runs `true`. */
async function startSshd(dir, pub, log) {
  if (!existsSync('/usr/sbin/sshd')) return log('   sshd: /usr/sbin/sshd not installed (apt-get install openssh-server); no baseline'), undefined
  if (process.getuid?.() !== 0) return log('   sshd: needs root to run as a daemon; no baseline'), undefined
  mkdirSync('/run/sshd', { recursive: true }) // privilege-separation directory
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'sshd_host_ed25519_key')])
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(pub))
  chmodSync(join(dir, 'authorized_keys'), 0o600)
  const port = 20000 + Math.floor(Math.random() * 20000)
  const cfg = join(dir, 'sshd_config')
  writeFileSync(cfg, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'sshd_host_ed25519_key')}`, 'PidFile none',
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PubkeyAuthentication yes', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'PermitRootLogin yes', 'ForceCommand true',
    'UseDNS no', 'PrintMotd no', 'PrintLastLog no', 'MaxStartups 256', 'MaxSessions 10',
    // bash sources ~/.bashrc when its stdin is a socket (sshd without a pty) unless nested:
    // without this the baseline would time the operator's dotfiles (pyenv init …), not sshd.
    'SetEnv SHLVL=1', '',
  ].join('\n'))
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (c) => (err += c))
  try {
    await waitPort(port)
  } catch (e) {
    child.kill()
    throw new Error(`sshd did not start: ${err}`)
  }
  return { port, pid: child.pid, stop: () => child.kill('SIGTERM') }
}

async function timeExec(key, port, user, command) {
  const t0 = process.hrtime.bigint()
  await sh('ssh', [...clientOpts(key, port), `${user}@127.0.0.1`, command])
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** Run this file as a load process; resolves with its last stdout line. */
function loadProcess(args, onLine) {
  const child = spawn(process.execPath, [self, '--load', ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] })
  let buf = ''
  child.stdout.on('data', (c) => {
    buf += c
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine?.(buf.slice(0, i), child)
      buf = buf.slice(i + 1)
    }
  })
  return child
}

async function handshakes(key, port, user, seconds, parallel) {
  let result
  const child = loadProcess(['handshakes', key, String(port), user, String(seconds), String(parallel)], (line) => {
    if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7))
  })
  const [code] = await once(child, 'exit')
  if (code !== 0 || !result) throw new Error(`handshake load failed (exit ${code})`)
  return result.count / result.seconds
}

async function idleSessionKb(key, server, sessions, log) {
  // Warm up (JIT, pools, first allocations) so the baseline is not the cold process.
  await new Promise((resolveP, reject) => {
    const warm = loadProcess(['sessions', key, String(server.port), 'boxd', '50'], (line, c) => { if (line.startsWith('READY')) c.stdin.end() })
    warm.on('exit', (code) => (code === 0 ? resolveP() : reject(new Error(`warm-up load exit ${code}`))))
  })
  await sleep(1000)
  await server.gc()
  const before = rssKb(server.pid)
  let ready = false
  const load = loadProcess(['sessions', key, String(server.port), 'boxd', String(sessions)], (line) => { if (line.startsWith('READY')) ready = true })
  const deadline = Date.now() + 120_000
  while (!ready) {
    if (load.exitCode !== null) throw new Error(`session load exited ${load.exitCode}`)
    if (Date.now() > deadline) throw new Error('sessions never all opened')
    await sleep(50)
  }
  await sleep(1000)
  await server.gc()
  const after = rssKb(server.pid)
  load.stdin.end()
  await once(load, 'exit')
  log(`   idle sessions: RSS ${before} kB → ${after} kB with ${sessions} open lobby sessions`)
  return (after - before) / sessions
}

export async function run({ quick, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-ssh-'))
  const key = join(dir, 'id_ed25519')
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', key])
  const boxd = await startBoxd(dir, `${key}.pub`)
  let sshd
  try {
    sshd = await startSshd(dir, `${key}.pub`, log)
    const me = userInfo().username
    const rounds = quick ? 20 : 100
    const timesB = []
    const timesO = []
    for (let i = 0; i < 3; i++) {
      await timeExec(key, boxd.port, 'boxd', 'whoami')
      if (sshd) await timeExec(key, sshd.port, me, 'true')
    }
    for (let i = 0; i < rounds; i++) {
      // Alternating, so drift (CPU frequency, other load) hits both the same.
      timesB.push(await timeExec(key, boxd.port, 'boxd', 'whoami'))
      if (sshd) timesO.push(await timeExec(key, sshd.port, me, 'true'))
    }
    const mB = median(timesB)
    const mO = sshd ? median(timesO) : NaN
    log(`   ssh host whoami: boxd median ${mB.toFixed(1)} ms; sshd (true) median ${sshd ? `${mO.toFixed(1)} ms` : 'n/a'} (${rounds} runs each)`)

    const seconds = quick ? 3 : 10
    const parallel = 4
    const hsB = await handshakes(key, boxd.port, 'boxd', seconds, parallel)
    const hsO = sshd ? await handshakes(key, sshd.port, me, seconds, parallel) : NaN
    log(`   handshakes/s (${parallel} parallel, ${seconds} s): boxd ${hsB.toFixed(0)}, sshd ${sshd ? hsO.toFixed(0) : 'n/a'}`)

    const idleKb = await idleSessionKb(key, boxd, quick ? 200 : 1000, log)
    return {
      ssh_exec_ms_boxd: mB,
      ssh_exec_ms_openssh: mO,
      ssh_exec_vs_openssh: mB / mO,
      ssh_handshakes_per_s_boxd: hsB,
      ssh_handshakes_per_s_openssh: hsO,
      ssh_handshakes_vs_openssh: hsB / hsO,
      ssh_idle_session_kb: idleKb,
    }
  } finally {
    boxd.stop()
    sshd?.stop()
    await sleep(200)
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---- load generator (child process) ----

async function load([mode, keyPath, portS, user, a, b]) {
  const { default: ssh2 } = await import('ssh2')
  const privateKey = readFileSync(keyPath)
  const port = Number(portS)
  const open = () => new Promise((resolveP, reject) => {
    const c = new ssh2.Client()
    c.on('ready', () => resolveP(c)).on('error', reject)
    c.connect({ host: '127.0.0.1', port, username: user, privateKey, readyTimeout: 20_000, keepaliveInterval: 0 })
  })
  if (mode === 'handshakes') {
    const seconds = Number(a)
    const end = Date.now() + seconds * 1000
    let count = 0
    await Promise.all(Array.from({ length: Number(b) }, async () => {
      while (Date.now() < end) {
        const c = await open()
        count++
        c.end()
        await once(c, 'close')
      }
    }))
    process.stdout.write(`RESULT ${JSON.stringify({ count, seconds })}\n`)
    return
  }
  if (mode === 'sessions') {
    const n = Number(a)
    const clients = []
    // Opened 25 at a time: the point is many idle sessions, not a connection storm.
    for (let i = 0; i < n; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, n - i) }, async () => {
        const c = await open()
        await new Promise((r, j) => c.shell(false, (e, ch) => (e ? j(e) : (ch.on('data', () => {}), r(ch)))))
        clients.push(c)
      }))
    }
    process.stdout.write(`READY ${clients.length}\n`)
    process.stdin.resume()
    await once(process.stdin, 'end')
    for (const c of clients) c.end()
    return
  }
  throw new Error(`unknown load mode ${mode}`)
}

if (process.argv[1] === self && process.argv[2] === '--load') {
  load(process.argv.slice(3)).then(() => process.exit(0), (e) => {
    process.stderr.write(`load: ${e?.stack ?? e}\n`)
    process.exit(1)
  })
}
