import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'start',
  group: 'machines',
  summary: 'Start stopped machines (their disks are as you left them)',
  usage: 'start <machine>…',
  examples: ['start web', 'start web db --json'],
  args: { machine: p.machine({ repeatable: true }) },
  mutates: true,
  async run({ args }, ctx) {
    const rows = args.machine.map((n) => ctx.machines.owned(ctx.principal, n))
    const out = []
    for (const r of rows) out.push(machineView(await ctx.machines.start(r), ctx))
    return { machines: out }
  },
  human: (r) => r.machines.map((m) => `started ${m.name}`).join('\n'),
})
