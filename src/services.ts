// Everything a verb may use, built once per server (or per `boxd run`) and passed in ctx.
import pino, { type Logger } from 'pino'
import type { Principal } from './auth/principal.js'
import type { Outcome } from './registry/dispatch.js'
import type { DoorKind } from './registry/types.js'
import type { Store } from './store/index.js'

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
  driver: 'sandbox' | 'docker'
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
