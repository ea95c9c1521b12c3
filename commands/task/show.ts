import { notFound } from '../../src/errors.js'
import { taskView } from '../../src/ops/tasks.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'task show',
  summary: 'Show a task: its status, last progress line, and result or error',
  usage: 'task show <id>',
  examples: ['task show tsk_k3j4…', 'task show tsk_k3j4… --json | jq .status'],
  args: { id: p.string({ description: 'the task id (from a --no-wait verb, or task ls)' }) },
  mutates: false,
  run({ args }, ctx) {
    const t = ctx.tasks.get(args.id)
    // Someone else's task does not exist (admins may look at any).
    if (!t || (t.user_id !== ctx.principal.user.id && ctx.principal.user.role !== 'admin')) throw notFound(`no task ${args.id.slice(0, 40)}`, 'run `task ls` to list yours')
    return taskView(t)
  },
  human: (t) => [
    `${t.task_id}  ${t.kind}  ${t.status}`,
    ...(t.progress ? [`progress: ${t.progress}`] : []),
    ...(t.error ? [`error: ${t.error.error}`] : []),
    ...(t.status === 'succeeded' && t.result !== null ? [`result: ${JSON.stringify(t.result)}`] : []),
  ].join('\n'),
})
