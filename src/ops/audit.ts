// The audit recorder: a DispatchObserver whose `after` runs before the door writes the answer,
// so a call the client saw is a call the trail has. Also a debug log line per request (the doors
// log their own access line with the same request id).
import type { Logger } from 'pino'
import type { Command } from '../registry/types.js'
import type { Clock, DispatchObserver } from '../services.js'
import type { AuditLog, AuditQuery, AuditRow } from '../store/audit.js'
import { machinesOf, redactFirstWord, redactInput } from './redact.js'

export const DEFAULT_AUDIT_RETENTION_SECONDS = 90 * 86400

/** The JSON contract of one audit entry (`audit --json`). */
export interface AuditView {
  id: string
  time: string
  user: string | null
  user_id: string | null
  via: string
  key_fingerprint: string | null
  token_id: string | null
  door: string
  remote_address: string | null
  verb: string
  machines: string[]
  args: unknown
  code: string
  duration_ms: number
  request_id: string
}

export const auditView = (r: AuditRow): AuditView => ({
  id: String(r.id), time: r.at, user: r.user_email, user_id: r.user_id, via: r.via,
  key_fingerprint: r.key_fingerprint, token_id: r.token_id, door: r.door, remote_address: r.remote_address,
  verb: r.verb, machines: r.machines ? (JSON.parse(r.machines) as string[]) : [],
  args: r.args ? JSON.parse(r.args) : null, code: r.code, duration_ms: Math.round(r.duration_ms * 1000) / 1000, request_id: r.request_id,
})

export class AuditRecorder implements DispatchObserver {
  constructor(
    private readonly log: AuditLog,
    private readonly clock: Clock,
    private readonly lookup: (verb: string) => Command | undefined,
    private readonly logger: Logger,
  ) {}

  after(e: Parameters<NonNullable<DispatchObserver['after']>>[0]): void {
    const { principal, door, outcome } = e
    const cmd = outcome.verb ? this.lookup(outcome.verb) : undefined
    const code = outcome.ok ? 'ok' : outcome.error?.code ?? 'internal'
    const machines = cmd && outcome.input ? machinesOf(cmd, outcome.input) : []
    this.log.insert({
      at: this.clock.now().toISOString(),
      user_id: principal.user.id,
      user_email: principal.user.email,
      via: principal.via,
      key_fingerprint: principal.keyFingerprint,
      token_id: principal.token?.id ?? null,
      door,
      remote_address: principal.remoteAddress ?? null,
      // A line that never resolved is stored by its first word only: the rest may be anything.
      verb: cmd ? cmd.name : redactFirstWord(e.line),
      machines: machines.length ? JSON.stringify(machines) : null,
      // Parsed input only: a line that failed to parse could hold a secret in any position.
      args: cmd && outcome.input ? redactInput(cmd, outcome.input) : null,
      code,
      duration_ms: outcome.durationMs,
      request_id: outcome.requestId,
    })
    if (this.logger.isLevelEnabled('debug')) this.logger.debug({ requestId: outcome.requestId, door, user: principal.user.id, verb: cmd?.name ?? null, code, durationMs: Math.round(outcome.durationMs) }, 'request')
  }
}

/** Reads and retention, for the `audit` verb and the pruning timer. */
export class AuditService {
  constructor(private readonly log: AuditLog, readonly retentionSeconds: number) {}

  query(q: AuditQuery): AuditView[] {
    return this.log.query(q).map(auditView)
  }

  prune(now: Date): number {
    return this.log.prune(new Date(now.getTime() - this.retentionSeconds * 1000).toISOString())
  }
}
