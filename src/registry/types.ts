// What a verb is, and what it may touch. Commands see only this: never a stream, socket or request.
import type { Infer, ParamsSpec } from './params.js'
import type { Principal } from '../auth/principal.js'
import type { Services } from '../services.js'
import type { Registry } from './registry.js'

export type DoorKind = 'ssh' | 'http' | 'local'

export interface Ctx extends Services {
  principal: Principal
  requestId: string
  door: DoorKind
  registry: Registry
  /** The door's stdin (SSH channel, local pipe), bounded and EOF-terminated; undefined when the door has none. */
  stdin(): Promise<Buffer | undefined>
  /** A progress line for long verbs (live line on a TTY, dropped in --json). */
  progress(message: string): void
  /** Aborted when the door's deadline passes or the client goes away. */
  signal: AbortSignal
}

export interface CommandSpec<A extends ParamsSpec, F extends ParamsSpec, R> {
  /** Verb path, words separated by one space: 'ssh-key add'. */
  name: string
  summary: string
  usage: string
  examples: string[]
  /** Help group; defaults to the first word of a multi-word verb, else 'general'. */
  group?: string
  description?: string
  args?: A
  flags?: F
  /** Declared for every verb: does it change state? (rate limits, tokens' defaults, audit). */
  mutates: boolean
  /** Only admins may run it (and only they see it in help). */
  admin?: boolean
  /** Input: typed from the spec literals. */
  run(input: { args: Infer<A>; flags: Infer<F> }, ctx: Ctx): Promise<R> | R
  /** Pure rendering for humans; the dispatcher renders JSON itself. */
  human?: (result: Unwrap<R>, ctx: { tty: boolean }) => string
}

export interface Command {
  name: string
  words: string[]
  summary: string
  usage: string
  examples: string[]
  group: string
  description?: string
  args: ParamsSpec
  flags: ParamsSpec
  mutates: boolean
  admin: boolean
  run(input: { args: Record<string, unknown>; flags: Record<string, unknown> }, ctx: Ctx): Promise<unknown> | unknown
  human?: (result: unknown, ctx: { tty: boolean }) => string
}

export function defineCommand<const A extends ParamsSpec = {}, const F extends ParamsSpec = {}, R = unknown>(
  spec: CommandSpec<A, F, R>,
): Command {
  const words = spec.name.split(' ')
  return {
    name: spec.name,
    words,
    summary: spec.summary,
    usage: spec.usage,
    examples: spec.examples,
    group: spec.group ?? (words.length > 1 ? words[0] : 'general'),
    description: spec.description,
    args: spec.args ?? {},
    flags: spec.flags ?? {},
    mutates: spec.mutates,
    admin: spec.admin ?? false,
    run: spec.run as Command['run'],
    human: spec.human as Command['human'],
  }
}

/**
 * A result that is only a promise of work (a task started with --no-wait): doors answer it
 * with HTTP 202 instead of 200. Same JSON either way.
 */
export class Accepted<T> {
  constructor(readonly data: T) {}
}
export const accepted = <T>(data: T) => new Accepted(data)
type Unwrap<R> = R extends Accepted<infer D> ? D : R

