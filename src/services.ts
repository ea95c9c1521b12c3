// Everything a verb may use, built once per server (or per `boxd run`) and passed in ctx.
import pino, { type Logger } from 'pino'
import type { Principal } from './auth/principal.js'
import type { RateLimiter, RateLimits } from './auth/ratelimit.js'
import type { TokenService } from './auth/token-service.js'
import type { Outcome } from './registry/dispatch.js'
import type { DoorKind } from './registry/types.js'
import type { Store } from './store/index.js'
import type { MachineService } from './machines/service.js'
import type { PortService } from './ports/service.js'
import type { MachineProxy } from './proxy/proxy.js'
import type { ShareService } from './proxy/shares.js'
import type { AuditService } from './ops/audit.js'
import type { EventBus } from './ops/events.js'
import type { Background } from './ops/index.js'
import type { Metrics } from './ops/metrics.js'
import type { TaskRunner } from './ops/tasks.js'
import type { WebhookService } from './ops/webhooks.js'

export interface Clock {
  now(): Date
}
export const systemClock: Clock = { now: () => new Date() }

export interface Config {
  dataDir: string
  domain: string
  listen: string
  sshPort: number
  httpsPort?: number
  httpPort?: number
  /** HTTPS door: PEM certificate and key files; absent → a self-signed certificate in the data dir. */
  tlsCert?: string
  tlsKey?: string
  /** Per-credential rate limits for SSH exec and /exec; unset fields take DEFAULT_RATE_LIMITS. */
  rateLimits?: Partial<RateLimits>
  driver: 'sandbox' | 'docker'
  /** Machines per user (`new` beyond it → quota_exceeded). */
  maxMachines: number
  /** May `new --network host` be used? Operator's choice, off by default. */
  allowHostNetwork: boolean
  /** Image for `new` without --image (sandbox: `host`; docker: an image reference). */
  defaultImage?: string
  /** Address forwarded host ports (`port open`) listen on; default: `listen`. */
  portsListen?: string
  /** Host ports `port open` may use; default 20000-29999. */
  portRange?: { from: number; to: number }
  /** SSH door (issue 3): may an unknown key sign up in the lobby? Default closed. */
  signup?: 'closed' | 'open'
  /** SSH door: create/ensure this admin at start (public key file + email), instead of the bootstrap code. */
  adminKey?: string
  adminEmail?: string
  /** SSH door limits; unset fields take the defaults in src/ssh/limits.ts. */
  sshLimits?: {
    loginGraceMs?: number
    maxAuthTries?: number
    maxUnauthenticated?: number
    maxChannelsPerConnection?: number
    idleTimeoutMs?: number
  }
  /** Audit rows (and events, finished deliveries and tasks) older than this many seconds are pruned; default 90 days. */
  auditRetention?: number
  /** Webhook destinations allowed (CIDRs; every resolved address must match); empty = anywhere. */
  webhookAllow?: string[]
  /** When set, GET /metrics requires `Authorization: Bearer <this>`. */
  metricsToken?: string
}

/**
 * Cross-cutting concerns plug in here instead of into the dispatcher: rate limits (before run,
 * may throw a CommandError), audit and metrics (after, before the door answers).
 */
export interface DispatchObserver {
  /** The verb is resolved and permitted, its input parsed; throw to refuse (e.g. rate_limited). */
  beforeRun?(e: { verb: string; mutates: boolean; principal: Principal; door: DoorKind; requestId: string }): void
  /** Every request, ok or not, once its outcome is known and before the door writes it. */
  after?(e: { line: string; principal: Principal; door: DoorKind; outcome: Outcome }): void
}

export interface Services {
  store: Store
  clock: Clock
  log: Logger
  config: Config
  observers: DispatchObserver[]
  /** Bearer credentials (boxd0 tokens, boxd1 handles) and server-made API keys. */
  tokens: TokenService
  /** Per-credential rate limits; also registered in `observers`. */
  limiter: RateLimiter
  /** Machines: intent in the store, reality in the driver. */
  machines: MachineService
  /** Port forwards (`port open`): persisted; bound by a serving process while their machine runs. */
  ports: PortService
  /** Who may reach a machine through the HTTPS proxy (`share` verbs). */
  shares: ShareService
  /** The machine HTTPS proxy (the HTTP door routes machine hostnames to it) and browser sign-in links. */
  proxy: MachineProxy
  /** Events + the webhook outbox: emit inside the state change's store.tx (src/ops/events.ts). */
  events: EventBus
  webhooks: WebhookService
  audit: AuditService
  metrics: Metrics
  /** Long operations as durable tasks (src/ops/tasks.ts). */
  tasks: TaskRunner
  /** Server-owned timers (retention, webhook delivery): startServer starts and stops them. */
  background: Background
}

/** JSON lines on stderr. Redaction paths make sure no token, key or secret reaches a log line. */
export function createLogger(level: string = process.env.BOXD_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'secret', '*.secret', 'privateKey', '*.privateKey'], censor: '[redacted]' },
    },
    pino.destination(2),
  )
}
