import { usage } from '../src/errors.js'
import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'comment',
  group: 'machines',
  summary: 'Set a machine\'s free-text comment ("" clears it)',
  usage: 'comment <machine> <text>…',
  examples: ['comment web "staging for PR 42"', "comment web ''"],
  args: { machine: p.machine(), text: p.string({ repeatable: true }) },
  mutates: true,
  run({ args }, ctx) {
    const text = args.text.join(' ')
    if (text.length > 500) throw usage('comment is longer than 500 characters')
    return machineView(ctx.machines.setComment(ctx.machines.owned(ctx.principal, args.machine), text), ctx)
  },
  human: (m) => `${m.name}: ${m.comment || '(no comment)'}`,
})
