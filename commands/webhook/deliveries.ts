import type { DeliveryView } from '../../src/ops/webhooks.js'
import { p } from '../../src/registry/params.js'
import { table, shortTime } from '../../src/registry/render.js'
import { defineCommand } from '../../src/registry/types.js'

/** One delivery as a line: what happened, and what happens next. */
export function deliveryLine(d: DeliveryView): string {
  const result = d.response_status !== null ? `HTTP ${d.response_status}` : d.error ?? 'not attempted yet'
  const next = d.status === 'pending' && d.next_attempt_at ? `; next attempt ${shortTime(d.next_attempt_at)}` : ''
  return `delivery ${d.id}: ${d.status} (${result}, ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}${next})`
}

export default defineCommand({
  name: 'webhook deliveries',
  summary: 'Show a webhook\'s recent deliveries and their results',
  usage: 'webhook deliveries <id> [--limit N]',
  examples: ['webhook deliveries wh_k3j4…', 'webhook deliveries wh_k3j4… --json | jq \'.deliveries[] | select(.status=="failed")\''],
  args: { id: p.string({ description: 'the webhook id (webhook ls)' }) },
  flags: { limit: p.int({ min: 1, max: 1000 })({ default: 50, description: 'at most this many, newest first' }) },
  mutates: false,
  run({ args, flags }, ctx) {
    return { deliveries: ctx.webhooks.deliveries(ctx.principal.user.id, args.id, flags.limit) }
  },
  human: (r) => table(r.deliveries, {
    id: (d) => d.id, event: (d) => d.event_type, status: (d) => d.status, attempts: (d) => d.attempts,
    http: (d) => d.response_status, error: (d) => d.error, created: (d) => shortTime(d.created_at), next: (d) => shortTime(d.next_attempt_at),
  }),
})
