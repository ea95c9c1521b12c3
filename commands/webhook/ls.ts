import { table, shortTime } from '../../src/registry/render.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'webhook ls',
  summary: 'List your webhooks',
  usage: 'webhook ls [--json]',
  examples: ['webhook ls', 'webhook ls --json | jq -r \'.webhooks[].id\''],
  mutates: false,
  run(_input, ctx) {
    return { webhooks: ctx.webhooks.list(ctx.principal.user.id) }
  },
  human: (r) => table(r.webhooks, {
    id: (w) => w.id, url: (w) => w.url, events: (w) => (w.events.length ? w.events : '*'), all_users: (w) => (w.all_users ? 'yes' : ''), created: (w) => shortTime(w.created_at),
  }),
})
