import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'rebuild',
  group: 'machines',
  summary: 'Give a machine a fresh root from its image, keeping /root and /home',
  usage: 'rebuild <machine>',
  examples: ['rebuild web'],
  args: { machine: p.machine() },
  mutates: true,
  async run({ args }, ctx) {
    return machineView(await ctx.machines.rebuild(ctx.machines.owned(ctx.principal, args.machine)), ctx)
  },
  human: (m) => `rebuilt ${m.name} (${m.status})`,
})
