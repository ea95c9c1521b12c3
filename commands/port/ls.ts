import { p } from '../../src/registry/params.js'
import { table } from '../../src/registry/render.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'port ls',
  summary: 'List forwarded ports (of one machine, or all of yours)',
  usage: 'port ls [<machine>]',
  examples: ['port ls', 'port ls web --json | jq -r \'.ports[].listen\''],
  args: { machine: p.machine({ optional: true }) },
  mutates: false,
  run({ args }, ctx) {
    const rows = args.machine === undefined ? ctx.machines.list(ctx.principal, []) : [ctx.machines.owned(ctx.principal, args.machine)]
    return { ports: ctx.ports.list(rows) }
  },
  human: (r) => table(r.ports, {
    machine: (f) => f.machine, port: (f) => f.port, listen: (f) => f.listen, to: (f) => f.to.join(','),
    state: (f) => (f.reason ? `${f.state} (${f.reason})` : f.state),
  }, 'no forwarded ports (open one with `port open <machine> <port>`)'),
})
