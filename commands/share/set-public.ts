import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { shareText } from '../../src/proxy/share-view.js'

export default defineCommand({
  name: 'share set-public',
  summary: 'Let anyone reach a machine port over HTTPS, without credentials',
  usage: 'share set-public <machine> [--port=P]',
  description: 'Without --port: the proxy port (<machine>.<domain>). The flag belongs to the port, so '
    + '<machine>-<P>.<domain> and, when P is the proxy port, <machine>.<domain> are public.',
  examples: ['share set-public web', 'share set-public web --port 3000'],
  args: { machine: p.machine() },
  flags: { port: p.port({ optional: true, description: 'machine port (default: the proxy port)' }) },
  mutates: true,
  run({ args, flags }, ctx) {
    return ctx.shares.setPublic(ctx.machines.owned(ctx.principal, args.machine), flags.port, true)
  },
  human: shareText,
})
