// One request through the registry, from either door: tokenize → resolve → permit → parse →
// caveats → run → render. Doors only translate bytes and credentials; the outcome says what to write.
import { randomUUID } from 'node:crypto'
import { CommandError, exitStatus, httpStatus } from '../errors.js'
import { checkVerb, machineAllowed } from '../auth/permissions.js'
import type { Principal } from '../auth/principal.js'
import type { Services } from '../services.js'
import { verbHelp, verbHelpText } from './help.js'
import { parseInput } from './parse.js'
import type { Registry } from './registry.js'
import { tokenize } from './tokenize.js'
import { Accepted, type Command, type Ctx, type DoorKind } from './types.js'

export interface DispatchRequest {
  line: string
  principal: Principal
  door: DoorKind
  /** HTTP always answers JSON. */
  forceJson?: boolean
  /** The caller's terminal is a TTY (human output may use it). */
  tty?: boolean
  stdin?: () => Promise<Buffer | undefined>
  progress?: (message: string) => void
  /**
   * Aborted when the door's deadline passes or the client goes away. A function is called the
   * first time the verb reads ctx.signal (most verbs never do, and an AbortSignal is costly to make).
   */
  signal?: AbortSignal | (() => AbortSignal)
  requestId?: string
}

export interface Outcome {
  ok: boolean
  /** Resolved verb name, when the line got that far. */
  verb?: string
  /** Parsed input, when the line got that far (audit; secret params are the caller's to redact). */
  input?: { args: Record<string, unknown>; flags: Record<string, unknown> }
  json: boolean
  data?: unknown
  error?: CommandError
  stdout: string
  stderr: string
  exit: number
  http: number
  /** The HTTP body: the verb's data, or the error object. */
  body: unknown
  requestId: string
  durationMs: number
}

/**
 * The outcome's body as JSON text, for the HTTP door. A JSON outcome's stdout is already exactly
 * that plus a newline (see ok() and the error path), so it is not serialised a second time.
 */
export function bodyJson(o: Outcome): string {
  return o.json ? o.stdout.slice(0, -1) : JSON.stringify(o.body)
}

export class Dispatcher {
  /** What every ctx inherits: the services (live: a service replaced later is seen) and a lazy `signal`. */
  private readonly ctxBase: Services

  constructor(private readonly registry: Registry, private readonly services: Services) {
    this.ctxBase = Object.create(services, {
      signal: {
        get(this: CtxWithSource): AbortSignal {
          const s = this[SIGNAL_SOURCE]
          if (typeof s !== 'function') return s
          const signal = s()
          Object.defineProperty(this, 'signal', { value: signal, enumerable: true })
          return signal
        },
        enumerable: true,
      },
    }) as Services
  }

  async dispatch(req: DispatchRequest): Promise<Outcome> {
    const outcome = await this.handle(req)
    for (const o of this.services.observers) {
      try {
        o.after?.({ line: req.line, principal: req.principal, door: req.door, outcome })
      } catch (e) {
        this.services.log.error({ err: e, requestId: outcome.requestId }, 'dispatch observer failed')
      }
    }
    return outcome
  }

  private async handle(req: DispatchRequest): Promise<Outcome> {
    const started = performance.now()
    const requestId = req.requestId ?? randomUUID()
    let json = Boolean(req.forceJson)
    let cmd: Command | undefined
    let input: Outcome['input']
    try {
      const tokens = tokenize(req.line)
      if (tokens.length === 0) throw new CommandError('usage', 'empty command', { hint: 'run `help` to list commands' })
      const { cmd: resolved, rest } = this.registry.resolve(tokens)
      cmd = resolved
      const flagTokens = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest
      json ||= flagTokens.includes('--json')
      // --help has no side effects and needs only the right to read help.
      if (flagTokens.includes('--help') || flagTokens.includes('-h')) {
        checkVerb(req.principal, cmd)
        const h = verbHelp(cmd)
        return this.ok(requestId, started, json, cmd.name, undefined, h, verbHelpText(h))
      }
      checkVerb(req.principal, cmd)
      const parsed = parseInput(cmd, rest)
      json ||= parsed.json
      input = { args: parsed.args, flags: parsed.flags }
      this.checkMachineCaveat(req.principal, cmd, input)
      for (const o of this.services.observers) o.beforeRun?.({ verb: cmd.name, mutates: cmd.mutates, principal: req.principal, door: req.door, requestId })
      const ctx = this.ctx(req, requestId)
      const result = await cmd.run(input, ctx)
      const data = result instanceof Accepted ? result.data : result
      // Human text only for callers that get it (never over HTTP, never with --json).
      const text = json ? '' : cmd.human ? cmd.human(data as never, { tty: Boolean(req.tty) }) : data === undefined ? '' : JSON.stringify(data, null, 2)
      const out = this.ok(requestId, started, json, cmd.name, input, data, text)
      return result instanceof Accepted ? { ...out, http: 202 } : out
    } catch (e) {
      const error = e instanceof CommandError ? e : this.internal(e, requestId, cmd?.name)
      const body = error.toJSON()
      const human = `error: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`
      return {
        ok: false, verb: cmd?.name, input, json, error, body, requestId,
        // JSON callers get the error object on stdout (parseable by jq) and the human line on stderr.
        stdout: json ? `${JSON.stringify(body)}\n` : '',
        stderr: human,
        exit: exitStatus(error.code), http: httpStatus(error.code),
        durationMs: performance.now() - started,
      }
    }
  }

  private ok(requestId: string, started: number, json: boolean, verb: string, input: Outcome['input'], data: unknown, text: string): Outcome {
    const stdout = json ? `${JSON.stringify(data ?? null)}\n` : text === '' ? '' : `${text}\n`
    return { ok: true, verb, input, json, data, body: data ?? null, stdout, stderr: '', exit: 0, http: 200, requestId, durationMs: performance.now() - started }
  }

  /** A token's `machines` caveat, for every machine-typed input: outside it, the machine does not exist. */
  private checkMachineCaveat(principal: Principal, cmd: Command, input: NonNullable<Outcome['input']>): void {
    for (const [specs, values] of [[cmd.args, input.args], [cmd.flags, input.flags]] as const) {
      for (const [key, param] of Object.entries(specs)) {
        if (!param.machine) continue
        const v = values[key]
        for (const name of Array.isArray(v) ? v : v === undefined ? [] : [v]) {
          if (!machineAllowed(principal, String(name))) throw new CommandError('not_found', `machine "${String(name)}" not found`)
        }
      }
    }
  }

  private ctx(req: DispatchRequest, requestId: string): Ctx {
    // The services are the prototype, not copied: copying ~20 properties per call showed in
    // profiles, and a service replaced on `services` (tests do) is still seen.
    const ctx = Object.create(this.ctxBase) as CtxWithSource
    ctx.principal = req.principal
    ctx.requestId = requestId
    ctx.door = req.door
    ctx.registry = this.registry
    ctx.stdin = req.stdin ?? noStdin
    ctx.progress = req.progress ?? noProgress
    ctx[SIGNAL_SOURCE] = req.signal ?? neverAborted
    return ctx
  }

  private internal(e: unknown, requestId: string, verb?: string): CommandError {
    // Logged in full for the operator; the caller sees only the request id.
    this.services.log.error({ err: e, requestId, verb }, 'internal error')
    return new CommandError('internal', `internal error (request id ${requestId})`)
  }
}

const noStdin = async (): Promise<Buffer | undefined> => undefined
const noProgress = (_message: string): void => {}

const SIGNAL_SOURCE = Symbol('signal source')
type CtxWithSource = Ctx & { [SIGNAL_SOURCE]: AbortSignal | (() => AbortSignal) }
const neverAborted = () => new AbortController().signal
