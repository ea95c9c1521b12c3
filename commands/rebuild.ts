import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'
import { asTask, isStarted, startedText } from '../src/ops/task-verb.js'

export default defineCommand({
  name: 'rebuild',
  group: 'machines',
  summary: 'Give a machine a fresh root from its image, keeping /root and /home',
  usage: 'rebuild <machine> [--no-wait]',
  examples: ['rebuild web'],
  args: { machine: p.machine() },
  flags: { noWait: p.bool({ description: 'return {task_id, status} at once instead of waiting' }) },
  mutates: true,
  async run({ args, flags }, ctx) {
    const row = ctx.machines.owned(ctx.principal, args.machine)
    return asTask(ctx, 'rebuild', flags.noWait, async (progress) => {
      progress(`rebuilding ${row.name} from ${row.image}`)
      return machineView(await ctx.machines.rebuild(row), ctx)
    }, { name: row.name })
  },
  human: (m) => (isStarted(m) ? startedText(m) : `rebuilt ${m.name} (${m.status})`),
})
