// Webhooks as the verbs see them. A webhook is its owner's: anyone else gets not_found.
import { randomBytes } from 'node:crypto'
import { notFound, usage } from '../errors.js'
import { newId } from '../store/ids.js'
import type { Clock } from '../services.js'
import type { Store } from '../store/index.js'
import type { DeliveryRow, WebhookRow } from '../store/webhooks.js'
import type { DestinationPolicy } from './destinations.js'
import type { EventBus } from './events.js'
import type { Sealer } from './seal.js'
import type { WebhookWorker } from './webhook-worker.js'

const FILTER_RE = /^[a-z0-9_*?]+(?:\.[a-z0-9_*?]+)*$/
const MAX_WEBHOOKS_PER_USER = 20

export interface WebhookView {
  id: string
  url: string
  events: string[]
  all_users: boolean
  created_at: string
}

export interface DeliveryView {
  id: string
  webhook_id: string
  event_id: string
  event_type?: string
  status: DeliveryRow['status']
  attempts: number
  response_status: number | null
  error: string | null
  created_at: string
  last_attempt_at: string | null
  next_attempt_at: string | null
  completed_at: string | null
}

export const webhookView = (w: WebhookRow): WebhookView => ({
  id: w.id, url: w.url, events: JSON.parse(w.events) as string[], all_users: w.all_users === 1, created_at: w.created_at,
})

export const deliveryView = (d: DeliveryRow & { event_type?: string }): DeliveryView => ({
  id: d.id, webhook_id: d.webhook_id, event_id: d.event_id, ...(d.event_type ? { event_type: d.event_type } : {}),
  status: d.status, attempts: d.attempts, response_status: d.response_status, error: d.last_error,
  created_at: d.created_at, last_attempt_at: d.last_attempt_at, next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null, completed_at: d.completed_at,
})

/** `--events machine.*,ssh_key.added` → validated globs. */
export function parseEventFilters(raw: string | undefined): string[] {
  if (raw === undefined || raw === '' || raw === '*') return []
  const list = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))]
  for (const f of list) if (f.length > 64 || !FILTER_RE.test(f)) throw usage(`bad event filter "${f.slice(0, 40)}"`, 'use event types or globs, e.g. machine.*,ssh_key.added')
  if (list.length > 32) throw usage('at most 32 event filters')
  return list
}

export class WebhookService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly sealer: Sealer,
    readonly policy: DestinationPolicy,
    private readonly events: EventBus,
    private readonly worker: WebhookWorker,
  ) {}

  /** Returns the webhook and its secret (generated when not given; the caller shows it once). */
  async add(userId: string, req: { url: string; events: string[]; secret?: string; allUsers: boolean }): Promise<{ webhook: WebhookView; secret: string; generated: boolean }> {
    const url = this.policy.parseUrl(req.url)
    await this.policy.checkUrl(url)
    if (req.secret !== undefined && (req.secret.length < 16 || req.secret.length > 256)) throw usage('--secret must be 16 to 256 characters', 'or leave it out and boxd generates one')
    const secret = req.secret ?? `whsec_${randomBytes(32).toString('base64url')}`
    const row: WebhookRow = {
      id: newId('wh'), user_id: userId, url: url.toString(), events: JSON.stringify(req.events), all_users: req.allUsers ? 1 : 0,
      secret_sealed: this.sealer.seal(secret), created_at: this.clock.now().toISOString(),
    }
    this.store.tx(() => {
      if (this.store.webhooks.listForUser(userId).length >= MAX_WEBHOOKS_PER_USER) throw usage(`at most ${MAX_WEBHOOKS_PER_USER} webhooks per account`)
      this.store.webhooks.insert(row)
    })
    return { webhook: webhookView(row), secret, generated: req.secret === undefined }
  }

  list(userId: string): WebhookView[] {
    return this.store.webhooks.listForUser(userId).map(webhookView)
  }

  owned(userId: string, id: string): WebhookRow {
    const w = this.store.webhooks.get(id)
    if (!w || w.user_id !== userId) throw notFound(`no webhook ${id.slice(0, 40)}`, 'run `webhook ls` to list yours')
    return w
  }

  remove(userId: string, id: string): WebhookView {
    const w = this.owned(userId, id)
    this.store.webhooks.remove(w.id)
    return webhookView(w)
  }

  /** Queue a `webhook.test` event for this webhook only, and attempt it now. */
  async test(userId: string, id: string): Promise<DeliveryView> {
    const w = this.owned(userId, id)
    const e = this.events.emit('webhook.test', { webhook_id: w.id, message: 'test delivery from boxd' }, { userId, onlyWebhook: w.id })
    return this.attemptNow(e.deliveries[0])
  }

  deliveries(userId: string, id: string, limit: number): DeliveryView[] {
    const w = this.owned(userId, id)
    return this.store.deliveries.listForWebhook(w.id, limit).map(deliveryView)
  }

  /** A new delivery of the same event to the same webhook, attempted now; the old row is kept as history. */
  async redeliver(userId: string, deliveryId: string): Promise<DeliveryView> {
    const old = this.store.deliveries.get(deliveryId)
    const w = old ? this.store.webhooks.get(old.webhook_id) : undefined
    if (!old || !w || w.user_id !== userId) throw notFound(`no delivery ${deliveryId.slice(0, 40)}`, 'run `webhook deliveries <id>` to list them')
    const now = this.clock.now().toISOString()
    const id = newId('dlv')
    this.store.deliveries.insert({
      id, webhook_id: w.id, event_id: old.event_id, status: 'pending', attempts: 0, next_attempt_at: now,
      last_attempt_at: null, response_status: null, last_error: null, created_at: now, completed_at: null,
    })
    return this.attemptNow(id)
  }

  private async attemptNow(deliveryId: string): Promise<DeliveryView> {
    await this.worker.deliver(deliveryId)
    const d = this.store.deliveries.get(deliveryId)
    if (!d) throw notFound('the delivery is gone (was the webhook removed?)')
    return deliveryView(d)
  }
}
