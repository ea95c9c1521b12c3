import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { shareText } from '../../src/proxy/share-view.js'

export default defineCommand({
  name: 'share set-private',
  summary: 'Require a machine token or a sign-in for a machine port (the default)',
  usage: 'share set-private <machine> [--port=P]',
  examples: ['share set-private web', 'share set-private web --port 3000'],
  args: { machine: p.machine() },
  flags: { port: p.port({ optional: true, description: 'machine port (default: the proxy port)' }) },
  mutates: true,
  run({ args, flags }, ctx) {
    return ctx.shares.setPublic(ctx.machines.owned(ctx.principal, args.machine), flags.port, false)
  },
  human: shareText,
})
