// The SSH door's hardening numbers, sshd-like. Each can be set in Config.sshLimits (tests use small
// values); the CLI exposes the ones an operator tunes.
import type { Config } from '../services.js'

export interface SshLimits {
  /** sshd LoginGraceTime: a connection not authenticated by then is dropped. */
  loginGraceMs: number
  /** sshd MaxAuthTries: failed authentication requests before the connection is dropped. */
  maxAuthTries: number
  /** sshd MaxStartups-like: concurrent unauthenticated connections; past it the oldest is dropped. */
  maxUnauthenticated: number
  /** sshd MaxSessions: open session channels per connection. */
  maxChannelsPerConnection: number
  /** Lobby (and channel-less connection) idle timeout; 0 disables. */
  idleTimeoutMs: number
  /** Bytes of stdin a verb may read (EOF-terminated). */
  stdinBytes: number
  /** On shutdown, how long in-flight commands get to finish before connections are closed. */
  shutdownGraceMs: number
}

export const SSH_LIMIT_DEFAULTS: SshLimits = {
  loginGraceMs: 30_000,
  maxAuthTries: 6,
  maxUnauthenticated: 64,
  maxChannelsPerConnection: 10,
  idleTimeoutMs: 30 * 60_000,
  stdinBytes: 64 * 1024,
  shutdownGraceMs: 2_000,
}

export function sshLimits(config: Config): SshLimits {
  const set = Object.fromEntries(Object.entries(config.sshLimits ?? {}).filter(([, v]) => v !== undefined))
  return { ...SSH_LIMIT_DEFAULTS, ...set }
}
