import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { shareText } from '../../src/proxy/share-view.js'

export default defineCommand({
  name: 'share add',
  summary: 'Let another account reach a machine over HTTPS (not a shell)',
  usage: 'share add <machine> <email>',
  description: 'They sign in with `browser <machine>` or a machine token signed by one of their keys; '
    + 'the machine sees them in X-Boxd-Email. A share grants no verbs and no SSH access.',
  examples: ['share add web bob@example.com'],
  args: { machine: p.machine(), email: p.email() },
  mutates: true,
  run({ args }, ctx) {
    return ctx.shares.add(ctx.machines.owned(ctx.principal, args.machine), args.email)
  },
  human: shareText,
})
