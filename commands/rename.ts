import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'rename',
  group: 'machines',
  summary: 'Rename a machine (its hostname changes at its next start)',
  usage: 'rename <old> <new>',
  examples: ['rename brave-otter web'],
  args: { machine: p.machine({ description: 'current name' }), newName: p.machine({ description: 'new name' }) },
  mutates: true,
  run({ args }, ctx) {
    return machineView(ctx.machines.rename(ctx.machines.owned(ctx.principal, args.machine), args.newName), ctx)
  },
  human: (m) => `renamed to ${m.name}`,
})
