// Drains the webhook outbox. Each due delivery is POSTed with a timeout; a failure is retried with
// exponential backoff until the delivery is a day old, then marked failed. State lives in the
// outbox rows only, so a restart (or a crash mid-request) loses nothing: the row is still pending
// and is sent again (at-least-once; receivers dedupe on X-Boxd-Delivery).
import { createHmac } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import type { Logger } from 'pino'
import type { Clock } from '../services.js'
import type { Store } from '../store/index.js'
import type { DeliveryRow } from '../store/webhooks.js'
import type { DestinationPolicy } from './destinations.js'
import { webhookBody } from './events.js'
import type { DeliveryOutcome } from './metrics.js'
import type { Sealer } from './seal.js'

export const FIRST_RETRY_SECONDS = 5
export const MAX_RETRY_SECONDS = 3600
export const GIVE_UP_AFTER_MS = 24 * 3600 * 1000
const BATCH = 100

/** Delay before the next attempt, after `attempts` failed ones: 5 s, 10 s, 20 s … capped at 1 h. */
export function backoffSeconds(attempts: number): number {
  return Math.min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** Math.max(0, attempts - 1))
}

/** `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` */
export function signatureHeader(secret: string, unixSeconds: number, body: string): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`
}

export interface WorkerOptions {
  /** Per attempt, connect to last byte. */
  timeoutMs: number
  /** How often to look when nothing is known to be due (new emits kick the worker at once). */
  pollMs: number
  concurrency: number
  /** Extra delay in [0, 1) × 10 % of the backoff, so a fleet of retries does not arrive at once. */
  jitter: () => number
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = { timeoutMs: 10_000, pollMs: 1000, concurrency: 4, jitter: Math.random }

export interface AttemptResult {
  ok: boolean
  responseStatus: number | null
  error: string | null
}

export class WebhookWorker {
  private timer?: NodeJS.Timeout
  private running = false
  private stopped = true
  private pass?: Promise<number>
  private readonly inFlight = new Map<string, Promise<DeliveryRow | undefined>>()
  private readonly opts: WorkerOptions

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly sealer: Sealer,
    private readonly policy: DestinationPolicy,
    private readonly log: Logger,
    private readonly onOutcome: (o: DeliveryOutcome) => void,
    opts: Partial<WorkerOptions> = {},
  ) {
    this.opts = { ...DEFAULT_WORKER_OPTIONS, ...opts }
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.schedule(0)
  }

  /** Stop looking; wait for attempts in flight (bounded by the attempt timeout). */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await Promise.allSettled([this.pass, ...this.inFlight.values()])
  }

  /** Something was queued: look soon (after the emitting transaction has committed). */
  kick(): void {
    if (!this.stopped) this.schedule(0)
  }

  /** Attempt the deliveries due now (one batch), `concurrency` at a time; returns how many were attempted. */
  async runOnce(): Promise<number> {
    if (!this.store.db.open) return 0
    const due = this.store.deliveries.due(this.clock.now().toISOString(), BATCH).filter((d) => !this.inFlight.has(d.id))
    let attempted = 0
    const lanes = Array.from({ length: Math.min(this.opts.concurrency, due.length) }, async () => {
      for (let d = due.shift(); d; d = due.shift()) { await this.deliver(d.id); attempted++ }
    })
    await Promise.all(lanes)
    return attempted
  }

  /** Attempt one delivery now, whatever its schedule (`webhook test`, `redeliver`). Resolves to its row after. */
  deliver(id: string): Promise<DeliveryRow | undefined> {
    const existing = this.inFlight.get(id)
    if (existing) return existing
    const p = this.attemptAndRecord(id).finally(() => this.inFlight.delete(id))
    this.inFlight.set(id, p)
    return p
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.tick(), ms)
    this.timer.unref()
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.running) return
    this.running = true
    try {
      this.pass = this.runOnce()
      await this.pass
    } catch (e) {
      this.log.error({ err: e }, 'webhook worker pass failed')
    } finally {
      this.running = false
      if (!this.stopped) this.schedule(this.sleepMs())
    }
  }

  /** Until the next known due time, at most pollMs (a restart or another process may add rows). */
  private sleepMs(): number {
    if (!this.store.db.open) return this.opts.pollMs
    const next = this.store.deliveries.nextDue()
    if (next === undefined) return this.opts.pollMs
    return Math.max(0, Math.min(this.opts.pollMs, Date.parse(next) - this.clock.now().getTime()))
  }

  private async attemptAndRecord(id: string): Promise<DeliveryRow | undefined> {
    const d = this.store.deliveries.get(id)
    if (!d || d.status !== 'pending') return d
    const hook = this.store.webhooks.get(d.webhook_id)
    const event = this.store.events.get(d.event_id)
    if (!hook || !event) return d // removed meanwhile; the cascade takes the row
    const body = webhookBody(event)
    let result: AttemptResult
    try {
      result = await this.post(hook.url, this.sealer.open(hook.secret_sealed), d.id, event.type, body)
    } catch (e) {
      result = { ok: false, responseStatus: null, error: (e as Error).message.slice(0, 200) }
    }
    // The store closed while the request was out (shutdown): the row stays pending and is sent
    // again after the restart.
    if (!this.store.db.open) return undefined
    const now = this.clock.now()
    const attempts = d.attempts + 1
    let status: DeliveryRow['status'] = result.ok ? 'succeeded' : 'pending'
    let next: string | null = null
    if (!result.ok) {
      const delayMs = backoffSeconds(attempts) * 1000 * (1 + 0.1 * this.opts.jitter())
      const at = now.getTime() + delayMs
      if (at - Date.parse(d.created_at) > GIVE_UP_AFTER_MS) status = 'failed'
      else next = new Date(at).toISOString()
    }
    this.store.deliveries.recordAttempt(d.id, { status, at: now.toISOString(), responseStatus: result.responseStatus, error: result.error, nextAttemptAt: next })
    this.onOutcome(status === 'succeeded' ? 'succeeded' : status === 'failed' ? 'failed' : 'retry')
    // Webhook ids only: a URL may carry a credential in its query string.
    if (!result.ok) this.log.warn({ webhookId: hook.id, deliveryId: d.id, attempts, responseStatus: result.responseStatus, error: result.error, gaveUp: status === 'failed' }, 'webhook delivery failed')
    return this.store.deliveries.get(d.id)
  }

  /** One POST. Redirects are not followed (a 3xx is a failure): the destination check covers one hop. */
  private post(url: string, secret: string, deliveryId: string, type: string, body: string): Promise<AttemptResult> {
    const u = new URL(url)
    const host = u.hostname.replace(/^\[|\]$/g, '')
    // Node skips `lookup` for IP literals, so check them here.
    if (isIP(host) && !this.policy.allowed(host)) return Promise.resolve({ ok: false, responseStatus: null, error: 'destination not allowed by --webhook-allow' })
    const t = Math.floor(this.clock.now().getTime() / 1000)
    const mod = u.protocol === 'https:' ? https : http
    return new Promise((resolve) => {
      let settled = false
      const done = (r: AttemptResult) => { if (!settled) { settled = true; clearTimeout(timer); resolve(r) } }
      const req = mod.request(u, {
        method: 'POST',
        lookup: this.policy.restricted ? this.policy.lookup : undefined,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'boxd-webhooks/1',
          'x-boxd-event': type,
          'x-boxd-delivery': deliveryId,
          'x-boxd-signature': signatureHeader(secret, t, body),
        },
      }, (res) => {
        // Read (and drop) the body so the socket is released; only the status counts.
        res.on('data', () => {})
        res.on('end', () => {
          const s = res.statusCode ?? 0
          done({ ok: s >= 200 && s < 300, responseStatus: s, error: s >= 200 && s < 300 ? null : `HTTP ${s}` })
        })
        res.on('error', (e) => done({ ok: false, responseStatus: res.statusCode ?? null, error: e.message }))
      })
      const timer = setTimeout(() => {
        done({ ok: false, responseStatus: null, error: `timed out after ${this.opts.timeoutMs} ms` })
        req.destroy()
      }, this.opts.timeoutMs)
      req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, responseStatus: null, error: e.code ? `${e.code}: ${e.message}`.slice(0, 200) : e.message }))
      req.end(body)
    })
  }
}
