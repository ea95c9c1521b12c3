// Everything a verb may use, built once per server (or per `boxd run`) and passed in ctx.
import pino, { type Logger } from 'pino'
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

export interface Services {
  store: Store
  clock: Clock
  log: Logger
  config: Config
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
