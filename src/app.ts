// Wiring: config → services → registry → dispatcher. Used by `boxd serve`, `boxd run` and tests.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import { commands } from '../commands/index.js'
import { DEFAULT_RATE_LIMITS, RateLimiter } from './auth/ratelimit.js'
import { TokenService } from './auth/token-service.js'
import { Dispatcher } from './registry/dispatch.js'
import { Registry } from './registry/registry.js'
import { createLogger, systemClock, type Clock, type Config, type Services } from './services.js'
import { Store } from './store/index.js'
import type { Driver } from './machines/driver.js'
import { createDriver, DOCKER_DEFAULT_IMAGE } from './machines/index.js'
import { MachineService } from './machines/service.js'
import { MachineShells } from './machines/sessions.js'
import { DEFAULT_PORT_RANGE, PortService } from './ports/service.js'
import { MachineProxy } from './proxy/proxy.js'
import { ShareService } from './proxy/shares.js'
import { createOps } from './ops/index.js'
import type { MachineSessions } from './ssh/machine-sessions.js'

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
    tlsCert: o.tlsCert,
    tlsKey: o.tlsKey,
    rateLimits: o.rateLimits,
    driver: o.driver ?? DEFAULTS.driver,
    maxMachines: o.maxMachines ?? 50,
    allowHostNetwork: o.allowHostNetwork ?? false,
    defaultImage: o.defaultImage,
    portsListen: o.portsListen,
    portRange: o.portRange,
    signup: o.signup ?? 'closed',
    adminKey: o.adminKey,
    adminEmail: o.adminEmail,
    sshLimits: o.sshLimits,
    auditRetention: o.auditRetention,
    webhookAllow: o.webhookAllow,
    metricsToken: o.metricsToken,
  }
}

export interface App {
  config: Config
  services: Services
  registry: Registry
  dispatcher: Dispatcher
  /** `ssh NAME@host` → a machine shell/exec; plugged by the machines issue (absent → the lobby). */
  machineSessions?: MachineSessions
  close(): void
}

export function createApp(config: Config, opts: { clock?: Clock; log?: Logger; driver?: Driver } = {}): App {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const store = Store.open(join(config.dataDir, 'boxd.db'))
  const clock = opts.clock ?? systemClock
  const limiter = new RateLimiter({ ...DEFAULT_RATE_LIMITS, ...config.rateLimits }, clock)
  const log = opts.log ?? createLogger()
  const driver = opts.driver ?? createDriver(config)
  const machines = new MachineService(store, driver, clock, config, log, {
    maxMachines: config.maxMachines,
    allowHostNetwork: config.allowHostNetwork,
    defaultImage: config.defaultImage ?? (driver.name === 'sandbox' ? 'host' : DOCKER_DEFAULT_IMAGE),
  })
  const registry = new Registry(commands)
  const ops = createOps({ store, clock, log, config, lookupVerb: (name) => registry.get(name) })
  // Machine state changes become events in the same transaction as the change.
  machines.onEvent = (type, row, data) => ops.events.emit(type, { machine: row.name, machine_id: row.id, status: row.status, ...data }, { userId: row.user_id, machine: row.name })
  const ports = new PortService(store, machines, clock, log, { listen: config.portsListen ?? config.listen, range: config.portRange ?? DEFAULT_PORT_RANGE, stateDir: join(config.dataDir, 'ports') })
  const shares = new ShareService(store, clock, config)
  const proxy = new MachineProxy({ store, clock, config, log, machines, shares })
  const services: Services = {
    store, clock, log, config, machines, ports, shares, proxy,
    tokens: new TokenService(store, clock, config.domain),
    limiter,
    events: ops.events, webhooks: ops.webhooks, audit: ops.audit, metrics: ops.metrics, tasks: ops.tasks, background: ops.background,
    // One limiter for SSH exec and HTTP /exec alike (RateLimiter.beforeRun); then the
    // active-user gate (beforeRun), the audit recorder and metrics (after).
    observers: [limiter, ...ops.observers],
  }
  return { config, services, registry, dispatcher: new Dispatcher(registry, services), machineSessions: new MachineShells(machines), close: () => { void ops.background.stop(); store.close() } }
}
