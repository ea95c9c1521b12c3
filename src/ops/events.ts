// Events and the webhook outbox. `emit` writes the event and one delivery row per matching
// webhook in the caller's transaction: wrap the state change and the emit in one `store.tx`, and
// either both happen or neither — a committed change is never left without its notification.
import { globMatch } from '../auth/permissions.js'
import { newId } from '../store/ids.js'
import type { Clock } from '../services.js'
import type { EventRow } from '../store/events.js'
import type { Store } from '../store/index.js'

const TYPE_RE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$/

export interface EmitOptions {
  /** Whose event it is: they (and every-user admin webhooks) are told. null = a server event. */
  userId: string | null
  /** The machine's name, when the event is about one (`events --machine`). */
  machine?: string
  /** Only this webhook gets a delivery (`webhook test`). */
  onlyWebhook?: string
}

export interface EmittedEvent {
  id: string
  deliveries: string[]
}

/** The JSON contract of one event: the webhook body is {id, type, created_at, data}. */
export interface EventView {
  id: string
  type: string
  created_at: string
  user_id: string | null
  machine: string | null
  data: unknown
}

export const eventView = (r: EventRow): EventView => ({ id: r.id, type: r.type, created_at: r.created_at, user_id: r.user_id, machine: r.machine, data: JSON.parse(r.data) })

/** Exactly the bytes delivered and signed. */
export const webhookBody = (r: EventRow): string => JSON.stringify({ id: r.id, type: r.type, created_at: r.created_at, data: JSON.parse(r.data) })

export class EventBus {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Called after each emit; the worker looks once the transaction has committed. */
    private readonly onOutbox: () => void = () => {},
  ) {}

  /**
   * Record an event; queue it for every webhook of `userId` (and every-user admin hooks) whose
   * event filter matches. Synchronous, so it joins the caller's `store.tx` (or opens its own).
   */
  emit(type: string, data: Record<string, unknown>, opts: EmitOptions): EmittedEvent {
    // A malformed type is a programming error, not user input.
    if (!TYPE_RE.test(type)) throw new Error(`bad event type "${type}"`)
    const now = this.clock.now().toISOString()
    const row: EventRow = { id: newId('evt'), type, user_id: opts.userId, machine: opts.machine ?? null, data: JSON.stringify(data), created_at: now }
    const deliveries = this.store.tx(() => {
      this.store.events.insert(row)
      const hooks = this.store.webhooks.candidatesFor(opts.userId)
        .filter((w) => (opts.onlyWebhook ? w.id === opts.onlyWebhook : matches(JSON.parse(w.events) as string[], type)))
      return hooks.map((w) => {
        const id = newId('dlv')
        this.store.deliveries.insert({
          id, webhook_id: w.id, event_id: row.id, status: 'pending', attempts: 0, next_attempt_at: now,
          last_attempt_at: null, response_status: null, last_error: null, created_at: now, completed_at: null,
        })
        return id
      })
    })
    if (deliveries.length) this.onOutbox()
    return { id: row.id, deliveries }
  }
}

/** [] = every type; otherwise any glob (`machine.*`) matching. */
export function matches(filters: string[], type: string): boolean {
  return filters.length === 0 || filters.some((f) => globMatch(f, type))
}
