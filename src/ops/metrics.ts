// Prometheus metrics, one Registry per app (tests run many apps in one process). Labels come
// from closed sets only (verb names from the registry, doors, error codes), never from input.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { DispatchObserver } from '../services.js'

export type DeliveryOutcome = 'succeeded' | 'retry' | 'failed'

export class Metrics implements DispatchObserver {
  readonly registry = new Registry()
  private readonly verbCalls: Counter<'verb' | 'door' | 'code'>
  private readonly verbSeconds: Histogram<'verb' | 'door'>
  private readonly rateLimited: Counter<'door'>
  private readonly sshSessions: Gauge
  private readonly deliveries: Counter<'outcome'>
  private processMetrics = false

  /** `machinesByState` is read at scrape time (the machine service may be wired after us). */
  constructor(machinesByState: () => Record<string, number> | undefined = () => undefined) {
    const registers = [this.registry]
    this.verbCalls = new Counter({ name: 'boxd_verb_calls_total', help: 'Verb calls by verb, door and result code (ok or an error code)', labelNames: ['verb', 'door', 'code'], registers })
    this.verbSeconds = new Histogram({
      name: 'boxd_verb_duration_seconds', help: 'Verb latency, from line received to outcome', labelNames: ['verb', 'door'], registers,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    })
    this.rateLimited = new Counter({ name: 'boxd_rate_limited_total', help: 'Calls refused by a rate limit', labelNames: ['door'], registers })
    this.sshSessions = new Gauge({ name: 'boxd_ssh_sessions_open', help: 'SSH sessions open now', registers })
    this.deliveries = new Counter({ name: 'boxd_webhook_deliveries_total', help: 'Webhook delivery attempts by outcome (succeeded, retry, failed = gave up)', labelNames: ['outcome'], registers })
    new Gauge({
      name: 'boxd_machines', help: 'Machines by state', labelNames: ['state'], registers,
      collect() {
        this.reset()
        for (const [state, n] of Object.entries(machinesByState() ?? {})) this.set({ state }, n)
      },
    })
  }

  /**
   * Process metrics (CPU, memory, event-loop lag, GC), prefixed boxd_. Only a serving process
   * turns them on: they install observers that live as long as the process.
   */
  collectProcessMetrics(): void {
    if (this.processMetrics) return
    this.processMetrics = true
    collectDefaultMetrics({ register: this.registry, prefix: 'boxd_' })
  }

  after(e: Parameters<NonNullable<DispatchObserver['after']>>[0]): void {
    const { outcome, door } = e
    // An unresolved line is counted as "(unknown)": a label per typo would grow without bound.
    const verb = outcome.verb ?? '(unknown)'
    const code = outcome.ok ? 'ok' : outcome.error?.code ?? 'internal'
    this.verbCalls.inc({ verb, door, code })
    this.verbSeconds.observe({ verb, door }, outcome.durationMs / 1000)
    if (code === 'rate_limited') this.rateLimitHit(door)
  }

  /** For a door that refuses over quota before dispatching (HTTP's per-request check). */
  rateLimitHit(door: string): void {
    this.rateLimited.inc({ door })
  }

  /** For the SSH door: call on session open and close. */
  sshSessionOpened(): void { this.sshSessions.inc() }
  sshSessionClosed(): void { this.sshSessions.dec() }

  webhookDelivery(outcome: DeliveryOutcome): void {
    this.deliveries.inc({ outcome })
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The Prometheus text exposition, for GET /metrics. */
  metricsText(): Promise<string> {
    return this.registry.metrics()
  }
}
