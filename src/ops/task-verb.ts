// Long verbs (new, rebuild, rm, image import) run as tasks: `--no-wait` answers {task_id, status}
// at once (HTTP 202); otherwise the verb waits, its progress lines going to the door.
import { CommandError, type ErrorCode } from '../errors.js'
import { accepted, type Accepted, type Ctx } from '../registry/types.js'
import type { TaskFn } from './tasks.js'

export type Started<X = object> = Accepted<{ task_id: string; status: 'running' } & X>

export async function asTask<R, X extends object = object>(ctx: Ctx, kind: string, noWait: boolean, fn: TaskFn<R>, extra?: X): Promise<R | Started<X>> {
  const t = ctx.tasks.run(kind, ctx.principal.user.id, fn, { onProgress: noWait ? undefined : ctx.progress })
  if (noWait) return accepted({ task_id: t.task_id, status: t.status, ...(extra as X) })
  const v = await t.done
  if (v.status === 'succeeded') return v.result as R
  const err = v.error ?? { error: 'task failed', code: 'failed' }
  throw new CommandError(err.code as ErrorCode, err.error, { hint: err.hint })
}

/** Did the verb answer with a started task (--no-wait) rather than its result? */
export const isStarted = (r: object): r is { task_id: string; status: 'running' } => 'task_id' in r && (r as { status?: unknown }).status === 'running'

export const startedText = (t: { task_id: string }) => `started task ${t.task_id}; follow it with \`task show ${t.task_id}\``
