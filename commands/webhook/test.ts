import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { deliveryLine } from './deliveries.js'

export default defineCommand({
  name: 'webhook test',
  summary: 'Send a webhook.test event to one webhook now and show how it went',
  usage: 'webhook test <id>',
  examples: ['webhook test wh_k3j4…', 'webhook test wh_k3j4… --json | jq .status'],
  args: { id: p.string({ description: 'the webhook id (webhook ls)' }) },
  mutates: true,
  run({ args }, ctx) {
    return ctx.webhooks.test(ctx.principal.user.id, args.id)
  },
  human: deliveryLine,
})
