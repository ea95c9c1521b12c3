import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'webhook rm',
  summary: 'Remove a webhook (its pending deliveries are dropped)',
  usage: 'webhook rm <id>',
  examples: ['webhook rm wh_k3j4…'],
  args: { id: p.string({ description: 'the webhook id (webhook ls)' }) },
  mutates: true,
  run({ args }, ctx) {
    const w = ctx.webhooks.remove(ctx.principal.user.id, args.id)
    return { removed: w.id, url: w.url }
  },
  human: (r) => `removed webhook ${r.removed}`,
})
