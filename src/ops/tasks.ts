// Long operations (new, rebuild, rm of many, image import) as tasks: started now, finished later,
// their status durable in the tasks table so `task show` works from any door and after a restart.
import type { Logger } from 'pino'
import { CommandError } from '../errors.js'
import { newId } from '../store/ids.js'
import type { Clock } from '../services.js'
import type { Store } from '../store/index.js'
import type { TaskRow, TaskStatus } from '../store/tasks.js'

export type Progress = (message: string) => void
export type TaskFn<R> = (progress: Progress, signal: AbortSignal) => Promise<R>

/** The JSON contract of a task (`task show --json`). */
export interface TaskView {
  task_id: string
  kind: string
  status: TaskStatus
  progress: string | null
  result: unknown
  error: { error: string; code: string; hint?: string } | null
  user_id: string
  created_at: string
  updated_at: string
  finished_at: string | null
}

export const taskView = (r: TaskRow): TaskView => ({
  task_id: r.id, kind: r.kind, status: r.status, progress: r.progress,
  result: r.result === null ? null : JSON.parse(r.result), error: r.error === null ? null : JSON.parse(r.error),
  user_id: r.user_id, created_at: r.created_at, updated_at: r.updated_at, finished_at: r.finished_at,
})

export interface StartedTask {
  task_id: string
  status: 'running'
  /** Settles when the task does, with its final view (never rejects): `await` it to wait. */
  done: Promise<TaskView>
}

const KIND_RE = /^[a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)*$/
const SHUTDOWN_GRACE_MS = 5000
const UNKNOWN_END = { kind: '', progress: null, user_id: '', created_at: '', updated_at: '', finished_at: null }

export class TaskRunner {
  private readonly running = new Map<string, { abort: AbortController; done: Promise<TaskView> }>()

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly log: Logger) {}

  /**
   * Start `fn` as a task of `userId`. Returns at once; `fn` runs on. Its resolved value is the
   * result (JSON-able); a thrown CommandError is the task's error as is, anything else is logged
   * and shown as `internal`. `onProgress` also receives each progress line (a waiting verb passes
   * ctx.progress).
   */
  run<R>(kind: string, userId: string, fn: TaskFn<R>, opts: { onProgress?: Progress } = {}): StartedTask {
    if (!KIND_RE.test(kind)) throw new Error(`bad task kind "${kind}"`)
    const now = this.now()
    const id = newId('tsk')
    this.store.tasks.insert({ id, user_id: userId, kind, status: 'running', progress: null, result: null, error: null, created_at: now, updated_at: now, finished_at: null })
    const abort = new AbortController()
    const progress: Progress = (message) => {
      const line = message.slice(0, 500)
      if (this.store.db.open) this.store.tasks.progress(id, line, this.now())
      opts.onProgress?.(line)
    }
    // Started on the next turn, so `run` returns the id before any of fn's synchronous work.
    const done = Promise.resolve()
      .then(() => fn(progress, abort.signal))
      .then(
        (result) => this.finish(id, { status: 'succeeded', result: JSON.stringify(result ?? null), error: null }),
        (e: unknown) => this.finish(id, { status: 'failed', result: null, error: JSON.stringify(this.errorOf(e, id, kind)) }),
      )
      .finally(() => this.running.delete(id))
    this.running.set(id, { abort, done })
    return { task_id: id, status: 'running', done }
  }

  get(id: string): TaskRow | undefined {
    return this.store.tasks.get(id)
  }

  /** A previous process died with tasks running: they will never finish, say so. */
  failInterrupted(): number {
    return this.store.tasks.failRunning(JSON.stringify({ error: 'interrupted: the server restarted while this task ran', code: 'failed' }), this.now())
  }

  /** Shutdown: abort running tasks and give them a moment to record how they ended. */
  async stop(): Promise<void> {
    const all = [...this.running.values()]
    for (const t of all) t.abort.abort(new CommandError('failed', 'server shutting down'))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled(all.map((t) => t.done)), new Promise((r) => { timer = setTimeout(r, SHUTDOWN_GRACE_MS); timer.unref() })])
    clearTimeout(timer)
  }

  private finish(id: string, r: { status: 'succeeded' | 'failed'; result: string | null; error: string | null }): TaskView {
    try {
      this.store.tasks.finish(id, r, this.now())
      const row = this.store.tasks.get(id)
      if (row) return taskView(row)
    } catch (e) {
      // The store closed under us (shutdown): the next start marks the row interrupted.
      this.log.warn({ err: e, taskId: id }, 'could not record the end of a task')
    }
    return { ...UNKNOWN_END, task_id: id, status: r.status, result: r.result === null ? null : JSON.parse(r.result), error: r.error === null ? null : JSON.parse(r.error) }
  }

  private errorOf(e: unknown, id: string, kind: string): { error: string; code: string; hint?: string } {
    if (e instanceof CommandError) return e.toJSON()
    this.log.error({ err: e, taskId: id, kind }, 'task failed with an internal error')
    return { error: `internal error (task ${id})`, code: 'internal' }
  }

  private now(): string {
    return this.clock.now().toISOString()
  }
}
