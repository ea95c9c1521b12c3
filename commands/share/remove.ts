import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { shareText } from '../../src/proxy/share-view.js'

export default defineCommand({
  name: 'share remove',
  summary: 'Stop sharing a machine with an account (their sessions stop working at once)',
  usage: 'share remove <machine> <email>',
  examples: ['share remove web bob@example.com'],
  args: { machine: p.machine(), email: p.email() },
  mutates: true,
  run({ args }, ctx) {
    return ctx.shares.remove(ctx.machines.owned(ctx.principal, args.machine), args.email)
  },
  human: shareText,
})
