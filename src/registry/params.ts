// Typed parameter specs for verbs. A spec is data (for help --json and bindings) plus a parser
// for one raw string; the phantom `T` lets defineCommand infer `run`'s input types from the literal.
import { usage } from '../errors.js'

export type ParamType = 'string' | 'int' | 'bool' | 'duration' | 'machine' | 'email' | 'size' | 'cidr' | 'port' | 'time'

export interface Param<T> {
  readonly type: ParamType
  readonly description: string
  readonly optional: boolean
  /** flags: may be given more than once (value is an array); args: takes the rest of the positionals. */
  readonly repeatable: boolean
  readonly default?: unknown
  /** The value names a machine: token `machines` caveats and cross-user checks apply to it. */
  readonly machine: boolean
  /** Never echoed into logs, audit or history. */
  readonly secret: boolean
  readonly short?: string
  readonly choices?: readonly string[]
  /** Parse one raw string; throw a plain Error whose message says what is wrong. */
  readonly parse: (raw: string) => unknown
  readonly __type?: T
}

export interface ParamOpts<D> {
  description?: string
  optional?: boolean
  default?: D
  repeatable?: boolean
  short?: string
  secret?: boolean
}

type Resolve<T, O> = O extends { repeatable: true }
  ? T[]
  : O extends { default: unknown }
    ? T
    : O extends { optional: true }
      ? T | undefined
      : T

function builder<T>(type: ParamType, parse: (raw: string) => T, fixed: Partial<Omit<Param<unknown>, '__type'>> = {}) {
  return <const O extends ParamOpts<T> = {}>(o?: O): Param<Resolve<T, O>> => ({
    type,
    description: o?.description ?? '',
    // A repeatable flag is never required (absent → []); a repeatable arg needs one value unless optional.
    optional: Boolean(o?.optional) || o?.default !== undefined,
    repeatable: Boolean(o?.repeatable),
    default: o?.default,
    machine: false,
    secret: Boolean(o?.secret),
    short: o?.short,
    parse,
    ...fixed,
  }) as Param<Resolve<T, O>>
}

// DNS label: lowercase, ≤ 63, no leading/trailing hyphen.
export const MACHINE_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

function parseInt10(raw: string, min: number, max: number): number {
  if (!/^-?\d{1,15}$/.test(raw)) throw new Error(`expected a whole number, got "${clip(raw)}"`)
  const n = Number(raw)
  if (n < min || n > max) throw new Error(`expected a number from ${min} to ${max}, got ${n}`)
  return n
}

/** "30s", "10m", "2h", "7d", "4w" → seconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d{1,9})([smhdw])$/.exec(raw)
  if (!m) throw new Error(`expected a duration like 30s, 10m, 2h, 7d, got "${clip(raw)}"`)
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w']
  return Number(m[1]) * unit
}

/** "512M", "2G", "1048576" → bytes. */
export function parseSize(raw: string): number {
  const m = /^(\d{1,12})([KMGT]i?B?|B)?$/i.exec(raw)
  if (!m) throw new Error(`expected a size like 512M or 2G, got "${clip(raw)}"`)
  const pow = { '': 0, B: 0, K: 1, M: 2, G: 3, T: 4 }[(m[2] ?? '').charAt(0).toUpperCase() as '' | 'B' | 'K' | 'M' | 'G' | 'T']
  return Number(m[1]) * 1024 ** pow
}

export const clip = (s: string, n = 40) => (s.length > n ? `${s.slice(0, n)}…` : s)

export const p = {
  string: builder<string>('string', (raw) => raw),
  int: (range: { min?: number; max?: number } = {}) =>
    builder<number>('int', (raw) => parseInt10(raw, range.min ?? Number.MIN_SAFE_INTEGER, range.max ?? Number.MAX_SAFE_INTEGER)),
  port: builder<number>('port', (raw) => parseInt10(raw, 1, 65535)),
  duration: builder<number>('duration', parseDuration),
  size: builder<number>('size', parseSize),
  email: builder<string>('email', (raw) => {
    if (raw.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(raw)) throw new Error(`"${clip(raw)}" is not an email address`)
    return raw.toLowerCase()
  }),
  machine: builder<string>('machine', (raw) => {
    if (!MACHINE_NAME_RE.test(raw)) throw new Error(`"${clip(raw)}" is not a machine name (lowercase letters, digits and -, at most 63)`)
    return raw
  }, { machine: true }),
  choice: <const C extends readonly string[]>(choices: C) =>
    builder<C[number]>('string', (raw) => {
      if (!choices.includes(raw)) throw new Error(`expected one of ${choices.join(', ')}, got "${clip(raw)}"`)
      return raw as C[number]
    }, { choices }),
  /** Boolean flags: `--x`, `--no-x`, `--x=true|false`. Absent → false unless a default says otherwise. */
  bool: (o: { description?: string; default?: boolean; short?: string } = {}): Param<boolean> => ({
    type: 'bool', description: o.description ?? '', optional: true, repeatable: false,
    default: o.default ?? false, machine: false, secret: false, short: o.short,
    parse: (raw) => {
      if (raw === 'true') return true
      if (raw === 'false') return false
      throw new Error(`expected true or false, got "${clip(raw)}"`)
    },
  }),
}

export type ParamsSpec = Record<string, Param<unknown>>
export type Infer<S extends ParamsSpec> = { [K in keyof S]: S[K] extends Param<infer T> ? T : never }

/** camelCase spec key → dash-case flag name. */
export const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

export function parseValue(param: Param<unknown>, raw: string, label: string): unknown {
  try {
    return param.parse(raw)
  } catch (e) {
    throw usage(`${label}: ${(e as Error).message}`)
  }
}
