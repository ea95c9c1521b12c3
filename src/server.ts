// `boxd serve`: open the store, start the doors, print where everything is, stop cleanly.
import { createApp, type App } from './app.js'
import { CommandError } from './errors.js'
import type { Config } from './services.js'
import { startSshServer } from './ssh/server.js'
import { startHttpServers } from './http/server.js'
import { startPorts } from './ports/door.js'

export interface Door {
  /** Human lines for the start banner (ports, fingerprints, paths). */
  banner: string[]
  /** Tell sessions, stop accepting, close. */
  close(): Promise<void>
}

export interface RunningServer {
  app: App
  doors: Door[]
  close(): Promise<void>
}

/** Start everything; used by `boxd serve` and by tests (ports may be 0 for ephemeral). */
export async function startServer(config: Config, opts: Parameters<typeof createApp>[1] = {}): Promise<RunningServer> {
  const app = createApp(config, opts)
  const doors: Door[] = []
  try {
    // First in, last out: audit retention and webhook delivery outlive every door's requests.
    app.services.background.start()
    doors.push({ banner: app.services.background.banner(), close: () => app.services.background.stop() })
    doors.push(await startMachines(app))
    doors.push(await startPorts(app))
    const ssh = await startSshServer(app)
    doors.push(ssh)
    const http = await startHttpServers(app)
    doors.push(http)
    // Port 0 means "any free port" (tests): machines' ssh_command and https_url show what was bound.
    config.sshPort = ssh.port
    if (http.ports.https !== undefined) config.httpsPort = http.ports.https
    if (http.ports.http !== undefined) config.httpPort = http.ports.http
  } catch (e) {
    for (const d of doors.reverse()) await d.close()
    app.close()
    throw e
  }
  return {
    app,
    doors,
    async close() {
      for (const d of [...doors].reverse()) await d.close()
      app.close()
    },
  }
}

export async function serve(config: Config): Promise<void> {
  const server = await startServer(config)
  const lines = [`boxd: data dir ${config.dataDir}, domain ${config.domain}, driver ${config.driver}`, ...server.doors.flatMap((d) => d.banner)]
  process.stdout.write(lines.map((l) => `${l}\n`).join(''))
  await new Promise<void>((resolveP) => {
    process.once('SIGTERM', resolveP)
    process.once('SIGINT', resolveP)
  })
  server.app.services.log.info('shutting down')
  await server.close()
}

const RECONCILE_EVERY_MS = 30_000

/**
 * The machine layer at start: the driver must work (a sandbox host without namespaces is a
 * configuration error, said at once), then intent and reality are reconciled — at start and
 * every 30 s — so machines that died are restarted and orphans removed.
 */
async function startMachines(app: App): Promise<Door> {
  const { machines, log } = app.services
  try {
    await machines.driver.check()
  } catch (e) {
    const msg = `the ${machines.driver.name} driver cannot run here: ${(e as Error).message}`
    if (machines.driver.name === 'sandbox') throw new CommandError('failed', msg)
    // A docker engine may come later: serve the API, report degraded health meanwhile.
    log.warn(msg)
  }
  const reconcile = () => machines.reconcile().then(
    (r) => { if (r.orphans_removed.length + r.started.length + r.stopped.length + r.failed.length) log.info(r, 'reconciled machines') },
    (err) => log.error({ err }, 'reconcile failed'),
  )
  await reconcile()
  let running: Promise<void> | undefined
  const timer = setInterval(() => { running ??= reconcile().finally(() => { running = undefined }) }, RECONCILE_EVERY_MS)
  timer.unref()
  return {
    banner: [`machines: ${machines.driver.name} driver, ${app.services.store.machines.all().length} machines`],
    async close() {
      clearInterval(timer)
      await running
    },
  }
}

