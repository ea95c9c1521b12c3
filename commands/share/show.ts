import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { shareText } from '../../src/proxy/share-view.js'

export default defineCommand({
  name: 'share show',
  summary: 'Show who can reach a machine over HTTPS: proxy port, public ports, shares',
  usage: 'share show <machine>',
  examples: ['share show web', 'share show web --json | jq .shared_with'],
  args: { machine: p.machine() },
  mutates: false,
  run({ args }, ctx) {
    return ctx.shares.show(ctx.machines.owned(ctx.principal, args.machine))
  },
  human: shareText,
})
