import { notFound } from '../src/errors.js'
import { mayRun } from '../src/auth/permissions.js'
import { verbHelp, verbHelpText, treeText, type VerbHelp } from '../src/registry/help.js'
import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'

export default defineCommand({
  name: 'help',
  summary: 'List verbs, or show one verb\'s usage, flags and examples',
  usage: 'help [<verb>…] [--json]',
  examples: ['help', 'help ssh-key add', 'help --json | jq \'.verbs[].name\''],
  args: { verb: p.string({ repeatable: true, optional: true, description: 'a verb, e.g. `ssh-key add`' }) },
  mutates: false,
  run({ args }, ctx): { verbs: VerbHelp[] } | VerbHelp {
    // Only what this caller may run is listed (admin verbs are invisible to users).
    if (args.verb.length === 0) return { verbs: ctx.registry.commands.filter((c) => mayRun(ctx.principal, c)).map(verbHelp) }
    const name = args.verb.join(' ')
    const cmd = ctx.registry.get(name)
    if (!cmd || (cmd.admin && ctx.principal.user.role !== 'admin')) throw notFound(`no verb "${name.slice(0, 60)}"`, 'run `help` to list verbs')
    return verbHelp(cmd)
  },
  human: (r) => ('verbs' in r ? treeText(r.verbs) : verbHelpText(r)),
})
