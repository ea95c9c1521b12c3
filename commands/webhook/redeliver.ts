import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { deliveryLine } from './deliveries.js'

export default defineCommand({
  name: 'webhook redeliver',
  summary: 'Send a past delivery\'s event again, now (as a new delivery)',
  usage: 'webhook redeliver <delivery-id>',
  examples: ['webhook redeliver dlv_q2w3…'],
  args: { deliveryId: p.string({ description: 'a delivery id (webhook deliveries <id>)' }) },
  mutates: true,
  run({ args }, ctx) {
    return ctx.webhooks.redeliver(ctx.principal.user.id, args.deliveryId)
  },
  human: deliveryLine,
})
