import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineTable, machineView } from '../src/machines/view.js'

export default defineCommand({
  name: 'ls',
  group: 'machines',
  summary: 'List your machines (globs match names or tags)',
  usage: 'ls [<pattern|tag>…] [--json]',
  examples: ['ls', "ls 'ci-*'", 'ls --json | jq -r \'.machines[] | select(.status=="running") | .name\''],
  args: { pattern: p.string({ repeatable: true, optional: true, description: 'a name glob (* ?) or a tag' }) },
  mutates: false,
  run({ args }, ctx) {
    return { machines: ctx.machines.list(ctx.principal, args.pattern).map((r) => machineView(r, ctx)) }
  },
  human: (r) => machineTable(r.machines),
})
