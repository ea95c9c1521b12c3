// The `boxd` binary: the server and the operator's offline tools, on the same data dir.
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { createApp, DEFAULTS, resolveConfig, type App } from './app.js'
import { createUser } from './auth/accounts.js'
import { DriverError } from './machines/driver.js'
import { importImage, listImages } from './machines/sandbox/index.js'
import type { Principal } from './auth/principal.js'
import { CommandError, exitStatus } from './errors.js'
import { p, parseDuration, parseValue } from './registry/params.js'
import { table, shortTime } from './registry/render.js'
import { createLogger, type Config } from './services.js'
import { mint, parseCmds, parseCtx, parseTimeFlag, type MintClaims } from './auth/mint.js'
import type { RateLimits } from './auth/ratelimit.js'
import { backupDatabase, restoreDatabase } from './ops/backup.js'
import { DestinationPolicy } from './ops/destinations.js'

const STDIN_LIMIT = 64 * 1024

const int = (name: string) => (v: string) => {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError(`${name} must be a port number (0-65535)`)
  return Number(v)
}

const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (SQLite, keys, machines)').env('BOXD_DATA_DIR').default(DEFAULTS.dataDir)

function configFrom(o: Record<string, unknown>): Config {
  return resolveConfig({
    dataDir: o.dataDir as string | undefined,
    domain: o.domain as string | undefined,
    listen: o.listen as string | undefined,
    sshPort: o.sshPort as number | undefined,
    httpsPort: o.httpsPort as number | undefined,
    httpPort: o.httpPort as number | undefined,
    driver: o.driver as Config['driver'] | undefined,
    maxMachines: o.maxMachines as number | undefined,
    allowHostNetwork: o.allowHostNetwork as boolean | undefined,
    defaultImage: o.defaultImage as string | undefined,
    portsListen: o.portsListen as string | undefined,
    portRange: o.portRange as Config['portRange'],
    signup: o.signup as Config['signup'],
    adminKey: o.adminKey as string | undefined,
    adminEmail: o.adminEmail as string | undefined,
    tlsCert: o.tlsCert as string | undefined,
    tlsKey: o.tlsKey as string | undefined,
    rateLimits: rateLimitsFrom(o),
    auditRetention: o.auditRetention as number | undefined,
    webhookAllow: o.webhookAllow as string[] | undefined,
    metricsToken: o.metricsToken as string | undefined,
    sshLimits: o.sshIdleTimeout === undefined && o.sshLoginGrace === undefined && o.sshMaxStartups === undefined ? undefined : {
      idleTimeoutMs: o.sshIdleTimeout === undefined ? undefined : (o.sshIdleTimeout as number) * 1000,
      loginGraceMs: o.sshLoginGrace === undefined ? undefined : (o.sshLoginGrace as number) * 1000,
      maxUnauthenticated: o.sshMaxStartups as number | undefined,
    },
  })
}

/** "20000-29999" → { from, to }: the host ports `port open` may bind. */
const portRange = (v: string) => {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(v)
  const from = Number(m?.[1]), to = Number(m?.[2])
  if (!m || from < 1 || to > 65535 || from > to) throw new InvalidArgumentError('--port-range must be LOW-HIGH within 1-65535, like 20000-29999')
  return { from, to }
}

const count = (name: string, min: number) => (v: string) => {
  if (!/^\d{1,7}$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`)
  return Number(v)
}

const duration = (name: string) => (v: string) => {
  try {
    const s = parseDuration(v)
    if (s < 3600) throw new Error('at least 1h')
    return s
  } catch (e) {
    throw new InvalidArgumentError(`${name}: ${(e as Error).message}`)
  }
}

/** Repeatable and comma-separated; each CIDR checked now, not at the first delivery. */
const cidrs = (v: string, prev: string[] = []) => {
  const list = v.split(',').map((c) => c.trim()).filter(Boolean)
  try { new DestinationPolicy(list) } catch (e) { throw new InvalidArgumentError((e as Error).message) }
  return [...prev, ...list]
}

function rateLimitsFrom(o: Record<string, unknown>): Partial<RateLimits> | undefined {
  const r: Partial<RateLimits> = {}
  if (o.rateLimitPerMinute !== undefined) r.perMinute = o.rateLimitPerMinute as number
  if (o.rateLimitMutatingPerMinute !== undefined) r.mutatingPerMinute = o.rateLimitMutatingPerMinute as number
  if (o.rateLimitPerHour !== undefined) r.perHour = o.rateLimitPerHour as number
  return Object.keys(r).length > 0 ? r : undefined
}

/** Run `fn` with an app on the data dir; CommandErrors become `error: …` and their exit status. */
async function withApp(o: Record<string, unknown>, fn: (app: App) => Promise<void> | void, logLevel = 'warn'): Promise<void> {
  const app = createApp(configFrom(o), { log: createLogger(process.env.BOXD_LOG_LEVEL ?? logLevel) })
  try {
    await fn(app)
  } catch (e) {
    if (!(e instanceof CommandError)) throw e
    process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`)
    process.exitCode = exitStatus(e.code)
  } finally {
    app.close()
  }
}

function readStdin(): Promise<Buffer | undefined> {
  if (process.stdin.isTTY) return Promise.resolve(undefined)
  return new Promise((resolveP, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    process.stdin.on('data', (c: Buffer) => {
      size += c.length
      if (size > STDIN_LIMIT) {
        process.stdin.destroy()
        reject(new CommandError('payload_too_large', `stdin is larger than ${STDIN_LIMIT / 1024} KiB`))
      } else chunks.push(c)
    })
    process.stdin.on('end', () => resolveP(Buffer.concat(chunks)))
    process.stdin.on('error', reject)
  })
}

const program = new Command()
  .name('boxd')
  .description('Self-hosted machines whose CLI is the API')
  .enablePositionalOptions()
  .showHelpAfterError()

program
  .command('serve')
  .description('Run the boxd server (SSH and HTTPS doors) on a data dir')
  .addOption(dataDirOption())
  .addOption(new Option('--domain <domain>', 'API domain (machines are <name>.<domain>)').env('BOXD_DOMAIN').default(DEFAULTS.domain))
  .option('--listen <addr>', 'listen address', DEFAULTS.listen)
  .option('--ssh-port <n>', 'SSH port', int('--ssh-port'), DEFAULTS.sshPort)
  .option('--https-port <n>', `HTTPS port (default ${DEFAULTS.httpsPort} unless only --http-port is given)`, int('--https-port'))
  .option('--http-port <n>', 'plain HTTP port (behind a TLS proxy, tests)', int('--http-port'))
  .option('--tls-cert <file>', 'HTTPS certificate (PEM), with --tls-key; default: a self-signed one made in the data dir')
  .option('--tls-key <file>', 'HTTPS private key (PEM), with --tls-cert')
  .option('--rate-limit-per-minute <n>', 'requests per minute per key (SSH exec and /exec; 0: no limit; default 60)', count('--rate-limit-per-minute', 0))
  .option('--rate-limit-mutating-per-minute <n>', 'state-changing requests per minute per key (0: no limit; default 30)', count('--rate-limit-mutating-per-minute', 0))
  .option('--rate-limit-per-hour <n>', 'requests per hour per key (0: no limit; default 1000)', count('--rate-limit-per-hour', 0))
  .addOption(new Option('--driver <driver>', 'machine driver').choices(['sandbox', 'docker']).default(DEFAULTS.driver))
  .option('--default-image <image>', 'image for `new` without --image (sandbox: host; docker: debian:bookworm-slim)')
  .option('--max-machines <n>', 'machines per user', (v: string) => { if (!/^\d{1,6}$/.test(v)) throw new InvalidArgumentError('--max-machines must be a whole number'); return Number(v) }, 50)
  .option('--allow-host-network', 'allow `new --network host` (machines share the host network)', false)
  .option('--ports-listen <addr>', 'address forwarded machine ports (`port open`) listen on (default: --listen)')
  .option('--port-range <low-high>', 'host ports `port open` may use (default 20000-29999)', portRange)
  .addOption(new Option('--signup <mode>', 'may an unknown SSH key create an account in the lobby?').choices(['closed', 'open']).default('closed'))
  .option('--admin-key <file>', 'first admin\'s public key file (.pub), with --admin-email; skips the bootstrap code')
  .option('--admin-email <email>', 'first admin\'s email, with --admin-key')
  .option('--ssh-idle-timeout <seconds>', 'close lobby sessions idle this long (0: never; default 1800)', count('--ssh-idle-timeout', 0))
  .option('--ssh-login-grace <seconds>', 'drop connections not authenticated within this time (default 30)', count('--ssh-login-grace', 1))
  .option('--audit-retention <duration>', 'keep audit entries, events and finished tasks this long (default 90d)', duration('--audit-retention'))
  .option('--webhook-allow <cidr>', 'webhook destinations allowed (repeatable or comma-separated; every resolved address must match; default: anywhere)', cidrs)
  .addOption(new Option('--metrics-token <token>', 'require `Authorization: Bearer <token>` on GET /metrics (prefer the env var: argv is visible in ps)').env('BOXD_METRICS_TOKEN'))
  .option('--ssh-max-startups <n>', 'concurrent unauthenticated SSH connections; past it the oldest is dropped (default 64)', count('--ssh-max-startups', 1))
  .action(async (o) => {
    const { serve } = await import('./server.js')
    await serve(configFrom(o))
  })

const user = program.command('user').description('Offline account administration on the data dir')
user
  .command('add')
  .description('Create an account (the first one you create should be --admin)')
  .requiredOption('--email <email>', 'the user\'s email')
  .requiredOption('--key <file>', 'their SSH public key file (.pub)')
  .option('--admin', 'make the user an admin', false)
  .addOption(dataDirOption())
  .action((o) => withApp(o, (app) => {
    const email = parseValue(p.email(), o.email, '--email') as string
    let keyText: string
    try {
      keyText = readFileSync(o.key, 'utf8')
    } catch (e) {
      throw new CommandError('usage', `cannot read ${o.key}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    const u = createUser(app.services.store, app.services.clock, { email, role: o.admin ? 'admin' : 'user', keyText })
    process.stdout.write(`created ${u.role} ${u.email} (${u.id})\n`)
  }))
user
  .command('ls')
  .description('List accounts')
  .option('--json', 'machine-readable output', false)
  .addOption(dataDirOption())
  .action((o) => withApp(o, (app) => {
    const users = app.services.store.users.list().map((u) => ({ id: u.id, email: u.email, role: u.role, status: u.status, expires_at: u.expires_at, created_at: u.created_at }))
    process.stdout.write(o.json ? `${JSON.stringify({ users })}\n` : `${table(users, { email: (u) => u.email, role: (u) => u.role, status: (u) => u.status, created: (u) => shortTime(u.created_at) })}\n`)
  }))

// Signing options shared by `token mint` and `exec`: a key file (ssh-keygen) or ssh-agent.
const signerOptions = (c: Command) => c
  .option('--key <file>', 'private key to sign with (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa); with --agent, picks the agent key')
  .option('--agent', 'sign through ssh-agent (SSH_AUTH_SOCK)', false)
  .addOption(new Option('--domain <domain>', 'the server\'s API domain (token namespace v0@<domain>)').env('BOXD_DOMAIN'))

function signerFrom(o: Record<string, unknown>): { key?: string; agentSocket?: string } {
  if (!o.agent) return { key: o.key as string | undefined }
  const sock = process.env.SSH_AUTH_SOCK
  if (!sock) throw new CommandError('usage', '--agent: SSH_AUTH_SOCK is not set', { hint: 'start ssh-agent and ssh-add your key, or use --key' })
  return { key: o.key as string | undefined, agentSocket: sock }
}

/** CommandErrors become `error: …` and their exit status, as in withApp, for commands without a data dir. */
async function reporting(fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (e) {
    if (!(e instanceof CommandError)) throw e
    process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`)
    process.exitCode = exitStatus(e.code)
  }
}

const image = program.command('image').description('Sandbox images (root filesystems) on the data dir')
image
  .command('import')
  .description('Add an image from a root filesystem tar (debootstrap, `docker export`); then `new --image NAME`')
  .argument('<name>', 'image name (lowercase letters, digits, - . _)')
  .argument('<rootfs-tar>', 'a tar of a root filesystem (must contain /bin/sh)')
  .option('--json', 'machine-readable output', false)
  .addOption(dataDirOption())
  .action(async (name: string, tar: string, o) => {
    try {
      const img = await importImage(resolveConfig({ dataDir: o.dataDir }).dataDir, name, tar)
      process.stdout.write(o.json ? `${JSON.stringify({ name: img.name, path: img.path })}\n` : `imported image ${img.name}: new --image ${img.name}\n`)
    } catch (e) {
      if (!(e instanceof DriverError)) throw e
      const code = e.reason === 'exists' ? 'conflict' : 'usage'
      process.stderr.write(`error: ${e.message}\n`)
      process.exitCode = exitStatus(code)
    }
  })
image
  .command('ls')
  .description('List images (`host` is the built-in one)')
  .option('--json', 'machine-readable output', false)
  .addOption(dataDirOption())
  .action(async (o) => {
    const images = await listImages(resolveConfig({ dataDir: o.dataDir }).dataDir)
    process.stdout.write(o.json ? `${JSON.stringify({ images: images.map((name) => ({ name })) })}\n` : `${images.join('\n')}\n`)
  })

const tokenCli = program.command('token').description('API tokens, made on this machine with your SSH key')
signerOptions(tokenCli
  .command('mint')
  .description('Print a boxd0 API token signed with your SSH key (offline; the server checks it against your registered keys)'))
  .option('--cmds <list>', 'comma-separated verbs it may run (default: the read-only set; "" = none)')
  .option('--exp <when>', 'expiry: a duration (10m, 2h, 30d), a unix time, an ISO date, or "never"', '1h')
  .option('--nbf <when>', 'not valid before: a duration from now, a unix time or an ISO date')
  .option('--ctx <json>', 'any JSON, passed to the server untouched')
  .option('--machine <glob>', 'a machine name glob it may act on (repeatable; default all)', (v: string, prev: string[] = []) => [...prev, v])
  .action((o) => reporting(async () => {
    const now = Math.floor(Date.now() / 1000)
    const claims: MintClaims = {
      exp: parseTimeFlag('--exp', o.exp, now),
      nbf: o.nbf === undefined ? undefined : parseTimeFlag('--nbf', o.nbf, now),
      cmds: o.cmds === undefined ? undefined : parseCmds(o.cmds),
      ctx: o.ctx === undefined ? undefined : parseCtx(o.ctx),
      machines: o.machine,
    }
    // The token is the whole of stdout.
    process.stdout.write(`${await mint(claims, o.domain || DEFAULTS.domain, signerFrom(o))}\n`)
  }))

signerOptions(program
  .command('exec')
  .description('Run one command through the HTTPS API, like `ssh host \'<command>\'`: same output, same exit status'))
  .requiredOption('--url <url>', 'the server, e.g. https://boxd.localhost:8443')
  .option('--insecure', 'do not verify the server\'s TLS certificate (self-signed, testing)', false)
  .option('--cacert <file>', 'trust this certificate (e.g. the server\'s self-signed data/tls/cert.pem)')
  .argument('<command...>', 'the command, as one string or as words (joined with spaces, like ssh)')
  .passThroughOptions()
  .action((words: string[], o) => reporting(async () => {
    const { execRemote } = await import('./http/client.js')
    const { Registry } = await import('./registry/registry.js')
    const { commands } = await import('../commands/index.js')
    const r = await execRemote({ url: o.url, line: words.join(' '), signer: signerFrom(o), domain: o.domain || undefined, insecure: o.insecure, cacert: o.cacert, tty: Boolean(process.stdout.isTTY) }, new Registry(commands))
    process.stdout.write(r.stdout)
    process.stderr.write(r.stderr)
    process.exitCode = r.exit
  }))

program
  .command('run')
  .description('Run one verb locally as a user (default: the first admin); same parser, output and exit status as over SSH')
  .argument('<command...>', 'the command, as one string or as words (joined with spaces, like ssh)')
  .option('--as <email>', 'run as this user')
  .addOption(dataDirOption())
  .passThroughOptions()
  .action((words: string[], o) => withApp(o, async (app) => {
    const { store, clock } = app.services
    const u = o.as ? store.users.findByEmail(o.as) : store.users.firstAdmin()
    if (!u) {
      throw new CommandError('not_found', o.as ? `no user ${o.as}` : 'no admin account yet', { hint: 'create one with: boxd user add --email you@example.com --key ~/.ssh/id_ed25519.pub --admin' })
    }
    if (!store.users.isActive(u, clock.now())) throw new CommandError('unauthenticated', `user ${u.email} is disabled or expired`)
    const principal: Principal = { user: { id: u.id, email: u.email, role: u.role }, via: 'local', keyFingerprint: null }
    const out = await app.dispatcher.dispatch({ line: words.join(' '), principal, door: 'local', tty: Boolean(process.stdout.isTTY), stdin: readStdin })
    process.stdout.write(out.stdout)
    process.stderr.write(out.stderr)
    process.exitCode = out.exit
  }))

program
  .command('backup')
  .description('Copy the database and audit trail, into one file, while the server runs (SQLite online backup, integrity-checked)')
  .requiredOption('--to <file|dir>', 'a file, or a directory for timestamped boxd-<time>.db files')
  .option('--keep <n>', 'with a directory: keep the newest N backups, delete older ones', count('--keep', 1))
  .option('--json', 'machine-readable output', false)
  .addOption(dataDirOption())
  .action((o) => reporting(async () => {
    const r = await backupDatabase({ dataDir: resolveConfig({ dataDir: o.dataDir }).dataDir, to: o.to, keep: o.keep })
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `backed up to ${r.file} (${r.bytes} bytes, schema ${r.schema_version}, integrity ok)${r.removed.length ? `; removed ${r.removed.join(', ')}` : ''}\n`)
  }))

program
  .command('restore')
  .description('Replace the data dir\'s database and audit trail with a backup (the server must be stopped)')
  .requiredOption('--from <file>', 'a file made by `boxd backup`')
  .option('--json', 'machine-readable output', false)
  .addOption(dataDirOption())
  .action((o) => reporting(async () => {
    const r = await restoreDatabase({ dataDir: resolveConfig({ dataDir: o.dataDir }).dataDir, from: o.from })
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `restored ${r.database} from ${r.restored_from}${r.previous ? ` (the previous database is kept as ${r.previous}${r.previous_audit ? `, its audit trail as ${r.previous_audit}` : ''})` : ''}\n`)
  }))

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exitCode = 70
})
