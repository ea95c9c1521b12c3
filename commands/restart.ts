import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'restart',
  group: 'machines',
  summary: 'Stop then start a machine',
  usage: 'restart <machine>',
  examples: ['restart web'],
  args: { machine: p.machine() },
  mutates: true,
  async run({ args }, ctx) {
    const row = ctx.machines.owned(ctx.principal, args.machine)
    await ctx.machines.stop(row)
    return machineView(await ctx.machines.start(row), ctx)
  },
  human: (m) => `restarted ${m.name}`,
})
