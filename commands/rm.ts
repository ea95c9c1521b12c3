import { CommandError } from '../src/errors.js'
import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'

export default defineCommand({
  name: 'rm',
  group: 'machines',
  summary: 'Delete machines and their disks',
  usage: 'rm <machine>…',
  description: 'Each machine is deleted on its own: the answer lists what was deleted and what failed (and why).',
  examples: ['rm web', 'rm $(ssh host ls "ci-*" --json | jq -r \'.machines[].name\')'],
  args: { machine: p.machine({ repeatable: true }) },
  mutates: true,
  async run({ args }, ctx) {
    const deleted: string[] = []
    const failed: { name: string; error: string; code: string }[] = []
    for (const name of new Set(args.machine)) {
      try {
        await ctx.machines.remove(ctx.machines.owned(ctx.principal, name))
        deleted.push(name)
      } catch (e) {
        if (!(e instanceof CommandError)) throw e
        failed.push({ name, error: e.message, code: e.code })
      }
    }
    // All failed: the verb failed, with the first reason (a single unknown name is not_found).
    if (deleted.length === 0 && failed.length > 0) {
      const f = failed[0]
      throw new CommandError(failed.length === 1 ? (f.code as CommandError['code']) : 'failed', failed.length === 1 ? f.error : `nothing deleted: ${failed.map((x) => `${x.name}: ${x.error}`).join('; ')}`)
    }
    return { deleted, failed }
  },
  human: (r) => [...r.deleted.map((n) => `deleted ${n}`), ...r.failed.map((f) => `failed ${f.name}: ${f.error}`)].join('\n'),
})
