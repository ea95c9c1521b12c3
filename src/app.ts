// Wiring: config → services → registry → dispatcher. Used by `boxd serve`, `boxd run` and tests.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { commands } from '../commands/index.js'
import { Dispatcher } from './registry/dispatch.js'
import { Registry } from './registry/registry.js'
import { createLogger, systemClock, type Clock, type Config, type Services } from './services.js'
import { Store } from './store/index.js'

export const DEFAULTS = {
  dataDir: './data',
  domain: 'boxd.localhost',
  listen: '127.0.0.1',
  sshPort: 2222,
  httpsPort: 8443,
  driver: 'sandbox',
} as const

export function resolveConfig(o: Partial<Config> = {}): Config {
  return {
    dataDir: resolve(o.dataDir ?? process.env.BOXD_DATA_DIR ?? DEFAULTS.dataDir),
    domain: (o.domain ?? process.env.BOXD_DOMAIN ?? DEFAULTS.domain).toLowerCase(),
    listen: o.listen ?? DEFAULTS.listen,
    sshPort: o.sshPort ?? DEFAULTS.sshPort,
    httpsPort: o.httpsPort,
    httpPort: o.httpPort,
    driver: o.driver ?? DEFAULTS.driver,
  }
}

export interface App {
  config: Config
  services: Services
  registry: Registry
  dispatcher: Dispatcher
  close(): void
}

export function createApp(config: Config, opts: { clock?: Clock; log?: Logger } = {}): App {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const store = Store.open(join(config.dataDir, 'boxd.db'))
  const services: Services = { store, clock: opts.clock ?? systemClock, log: opts.log ?? createLogger(), config, observers: [] }
  const registry = new Registry(commands)
  return { config, services, registry, dispatcher: new Dispatcher(registry, services), close: () => store.close() }
}
