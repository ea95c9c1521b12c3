import { taskView } from '../../src/ops/tasks.js'
import { listingScope } from '../../src/ops/scope.js'
import { p } from '../../src/registry/params.js'
import { table, shortTime } from '../../src/registry/render.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'task ls',
  summary: 'List tasks, newest first (yours; admins: everyone\'s)',
  usage: 'task ls [--status running|succeeded|failed] [--user EMAIL] [--limit N]',
  examples: ['task ls', 'task ls --status running --json'],
  flags: {
    status: p.choice(['running', 'succeeded', 'failed'] as const)({ optional: true, description: 'only tasks in this state' }),
    user: p.email({ optional: true, description: 'only this user\'s tasks (admins)' }),
    limit: p.int({ min: 1, max: 1000 })({ default: 50, description: 'at most this many' }),
  },
  mutates: false,
  run({ flags }, ctx) {
    const scope = listingScope(ctx.principal, ctx.store, flags.user)
    const rows = ctx.store.tasks.list({ userId: 'all' in scope ? undefined : scope.userId, status: flags.status, limit: flags.limit })
    return { tasks: rows.map(taskView) }
  },
  human: (r) => table(r.tasks, {
    id: (t) => t.task_id, kind: (t) => t.kind, status: (t) => t.status, progress: (t) => t.progress, started: (t) => shortTime(t.created_at), finished: (t) => shortTime(t.finished_at),
  }),
})
