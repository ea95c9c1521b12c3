import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { shareText } from '../../src/proxy/share-view.js'

export default defineCommand({
  name: 'share port',
  summary: 'Set the port <machine>.<domain> reaches inside the machine (default 8000)',
  usage: 'share port <machine> <port>',
  description: 'Other ports are always reachable as <machine>-<port>.<domain>, each private unless made public.',
  examples: ['share port web 3000'],
  args: { machine: p.machine(), port: p.port() },
  mutates: true,
  run({ args }, ctx) {
    return ctx.shares.setProxyPort(ctx.machines.owned(ctx.principal, args.machine), args.port)
  },
  human: shareText,
})
