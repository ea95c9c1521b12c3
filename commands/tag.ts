import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'tag',
  group: 'machines',
  summary: 'Add tags to a machine, or remove them with -d',
  usage: 'tag [-d] <machine> <tag>…',
  examples: ['tag web prod eu', 'tag -d web eu', 'ls prod'],
  args: { machine: p.machine(), tag: p.string({ repeatable: true }) },
  flags: { delete: p.bool({ short: 'd', description: 'remove the tags instead' }) },
  mutates: true,
  run({ args, flags }, ctx) {
    const row = ctx.machines.owned(ctx.principal, args.machine)
    const m = flags.delete ? ctx.machines.setTags(row, [], args.tag) : ctx.machines.setTags(row, args.tag, [])
    return machineView(m, ctx)
  },
  human: (m) => `${m.name}: ${m.tags.join(', ') || '(no tags)'}`,
})
