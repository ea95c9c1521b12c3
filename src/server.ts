// `boxd serve`: open the store, start the doors, print where everything is, stop cleanly.
import { createApp, type App } from './app.js'
import type { Config } from './services.js'
import { startSshServer } from './ssh/server.js'
import { startHttpServers } from './http/server.js'

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
export async function startServer(config: Config): Promise<RunningServer> {
  const app = createApp(config)
  const doors: Door[] = []
  try {
    doors.push(await startSshServer(app))
    doors.push(await startHttpServers(app))
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
