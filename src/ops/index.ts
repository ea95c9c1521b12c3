// Operating boxd, wired: audit trail, events + webhooks, metrics, tasks, and the background work
// a server owns (retention pruning, webhook delivery). createApp builds this; startServer starts
// and stops `background`; `boxd run` and tests never start it.
import type { Logger } from 'pino'
import type { Command } from '../registry/types.js'
import type { Clock, Config, DispatchObserver } from '../services.js'
import type { Store } from '../store/index.js'
import { activeUserGate } from './active-user.js'
import { AuditRecorder, AuditService, DEFAULT_AUDIT_RETENTION_SECONDS } from './audit.js'
import { DestinationPolicy } from './destinations.js'
import { EventBus } from './events.js'
import { Metrics } from './metrics.js'
import { Sealer } from './seal.js'
import { PID_FILE, writePidFile } from './server-lock.js'
import { TaskRunner } from './tasks.js'
import { WebhookWorker, type WorkerOptions } from './webhook-worker.js'
import { WebhookService } from './webhooks.js'

const PRUNE_EVERY_MS = 3600 * 1000

export interface Ops {
  events: EventBus
  webhooks: WebhookService
  audit: AuditService
  metrics: Metrics
  tasks: TaskRunner
  /** The server's timers; started and stopped by startServer. */
  background: Background
  /** In order: the active-user gate (beforeRun), the audit recorder and metrics (after). */
  observers: DispatchObserver[]
}

export interface OpsDeps {
  store: Store
  clock: Clock
  log: Logger
  config: Config
  /** The registry's verb lookup (audit redaction needs each verb's param spec). */
  lookupVerb: (name: string) => Command | undefined
  worker?: Partial<WorkerOptions>
}

export function createOps(d: OpsDeps): Ops {
  const { store, clock, log, config } = d
  const sealer = new Sealer(config.dataDir)
  const policy = new DestinationPolicy(config.webhookAllow ?? [])
  const metrics = new Metrics(() => store.machines.countByStatus())
  const worker = new WebhookWorker(store, clock, sealer, policy, log, (o) => metrics.webhookDelivery(o), d.worker)
  const events = new EventBus(store, clock, () => worker.kick())
  const audit = new AuditService(store.audit, config.auditRetention ?? DEFAULT_AUDIT_RETENTION_SECONDS)
  const tasks = new TaskRunner(store, clock, log)
  const isAdminVerb = (name: string) => d.lookupVerb(name)?.admin ?? false
  return {
    events, audit, metrics, tasks,
    webhooks: new WebhookService(store, clock, sealer, policy, events, worker),
    background: new Background(store, clock, log, config.dataDir, audit, worker, tasks, policy.cidrs, metrics),
    observers: [activeUserGate(store, clock, isAdminVerb), new AuditRecorder(store.audit, clock, d.lookupVerb, log), metrics],
  }
}

export class Background {
  private timer?: NodeJS.Timeout
  private releasePid?: () => void

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly dataDir: string,
    private readonly audit: AuditService,
    private readonly worker: WebhookWorker,
    private readonly tasks: TaskRunner,
    private readonly webhookAllow: readonly string[],
    private readonly metrics: Metrics,
  ) {}

  /** For the start banner. */
  banner(): string[] {
    const days = Math.round(this.audit.retentionSeconds / 86400)
    const allow = this.webhookAllow.length ? this.webhookAllow.join(', ') : 'any destination'
    return [`operations: audit kept ${days} days; webhooks to ${allow}; pid file ${PID_FILE}`]
  }

  start(): void {
    if (this.releasePid) return
    this.releasePid = writePidFile(this.dataDir)
    const interrupted = this.tasks.failInterrupted()
    if (interrupted) this.log.warn({ tasks: interrupted }, 'tasks left running by the previous server marked failed')
    this.prune()
    this.timer = setInterval(() => this.prune(), PRUNE_EVERY_MS)
    this.timer.unref()
    this.worker.start()
    this.metrics.collectProcessMetrics()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await Promise.all([this.worker.stop(), this.tasks.stop()])
    this.releasePid?.()
    this.releasePid = undefined
  }

  /** Drop audit rows, events, finished deliveries and tasks older than the retention. */
  prune(): void {
    try {
      const now = this.clock.now()
      const before = new Date(now.getTime() - this.audit.retentionSeconds * 1000).toISOString()
      // The audit trail has its own file and connection (src/store/db.ts openAuditDatabase).
      const audit = this.audit.prune(now)
      const n = { audit, ...this.store.tx(() => ({
        deliveries: this.store.deliveries.prune(before),
        events: this.store.events.prune(before),
        tasks: this.store.tasks.prune(before),
      })) }
      if (n.audit + n.events + n.deliveries + n.tasks > 0) this.log.info({ pruned: n, before }, 'retention')
    } catch (e) {
      this.log.error({ err: e }, 'retention pruning failed')
    }
  }
}
