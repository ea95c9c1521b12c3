import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'stop',
  group: 'machines',
  summary: 'Stop machines; their disks are kept',
  usage: 'stop <machine>…',
  examples: ['stop web', 'stop web db --json'],
  args: { machine: p.machine({ repeatable: true }) },
  mutates: true,
  async run({ args }, ctx) {
    const rows = args.machine.map((n) => ctx.machines.owned(ctx.principal, n))
    const out = []
    for (const r of rows) out.push(machineView(await ctx.machines.stop(r), ctx))
    return { machines: out }
  },
  human: (r) => r.machines.map((m) => `stopped ${m.name}`).join('\n'),
})
