import { CommandError } from '../src/errors.js'
import { p } from '../src/registry/params.js'
import { defineCommand, type Ctx } from '../src/registry/types.js'
import { asTask, isStarted, startedText } from '../src/ops/task-verb.js'

export default defineCommand({
  name: 'rm',
  group: 'machines',
  summary: 'Delete machines and their disks',
  usage: 'rm <machine>… [--no-wait]',
  description: 'Each machine is deleted on its own: the answer lists what was deleted and what failed (and why).',
  examples: ['rm web', 'rm $(ssh host ls "ci-*" --json | jq -r \'.machines[].name\')'],
  args: { machine: p.machine({ repeatable: true }) },
  flags: { noWait: p.bool({ description: 'return {task_id, status} at once instead of waiting (for many machines)' }) },
  mutates: true,
  async run({ args, flags }, ctx) {
    return asTask(ctx, 'rm', flags.noWait, (progress) => removeEach(ctx, [...new Set(args.machine)], progress))
  },
  human: (r) => (isStarted(r) ? startedText(r) : [...r.deleted.map((n) => `deleted ${n}`), ...r.failed.map((f) => `failed ${f.name}: ${f.error}`)].join('\n')),
})

async function removeEach(ctx: Ctx, names: string[], progress: (m: string) => void) {
  const deleted: string[] = []
  const failed: { name: string; error: string; code: string }[] = []
  for (const name of names) {
    try {
      progress(`deleting ${name}`)
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
}
