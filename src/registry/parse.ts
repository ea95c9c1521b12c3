// Flags and positionals of one verb, from tokens, against the verb's typed spec.
// yargs-parser assembles the values; a strict pre-scan first rejects what it would silently
// accept (unknown flags, `--bool=yes` read as false, `--name` with no value read as "").
import yargsParser from 'yargs-parser'
import { CommandError } from '../errors.js'
import { flagName, parseValue, type Param, type ParamsSpec } from './params.js'
import type { Command } from './types.js'

/** Flags every verb has; the dispatcher acts on them. */
export const GLOBAL_FLAGS = {
  json: { description: 'print machine-readable JSON' },
  help: { description: 'show this verb\'s help', short: 'h' },
} as const

export interface Parsed {
  args: Record<string, unknown>
  flags: Record<string, unknown>
  json: boolean
  help: boolean
}

const YARGS_CONFIG = {
  'camel-case-expansion': false,
  'boolean-negation': false,
  'duplicate-arguments-array': true,
  'flatten-duplicate-arrays': true,
  'parse-numbers': false,
  'parse-positional-numbers': false,
  'dot-notation': false,
  'greedy-arrays': false,
  'populate--': true,
  'short-option-groups': false,
  'strip-aliased': true,
} as const

/** A verb's flag tables, built once per verb (its spec never changes). */
interface FlagTables {
  byName: Map<string, { key: string; param: Param<unknown> }>
  shorts: Map<string, string>
  strings: string[]
  booleans: string[]
}
const tablesOf = new WeakMap<Command, FlagTables>()

function flagTables(cmd: Command): FlagTables {
  let t = tablesOf.get(cmd)
  if (t) return t
  const byName = new Map<string, { key: string; param: Param<unknown> }>()
  const shorts = new Map<string, string>()
  for (const [key, param] of Object.entries(cmd.flags)) {
    byName.set(flagName(key), { key, param })
    if (param.short) shorts.set(param.short, flagName(key))
  }
  const strings: string[] = []
  const booleans = ['json', 'help']
  for (const [name, { param }] of byName) (param.type === 'bool' ? booleans : strings).push(name)
  t = { byName, shorts, strings, booleans }
  tablesOf.set(cmd, t)
  return t
}

export function parseInput(cmd: Command, tokens: string[]): Parsed {
  const bad = (msg: string) => new CommandError('usage', msg, { hint: `usage: ${cmd.usage}` })
  const { byName, shorts, strings, booleans } = flagTables(cmd)
  const isBool = (name: string) => name === 'json' || name === 'help' || byName.get(name)?.param.type === 'bool'

  // Pre-scan (up to `--`): every flag known, booleans strict, valued flags given a value.
  const normalized: string[] = []
  let i = 0
  for (; i < tokens.length; i++) {
    const t = tokens[i]
    if (t === '--') break
    if (t === '-h') { normalized.push('--help'); continue }
    if (/^-[^-]/.test(t) && !/^-\d/.test(t)) {
      const long = shorts.get(t.slice(1))
      if (!long) throw bad(`unknown flag ${t}`)
      normalized.push(`--${long}`)
      continue
    }
    if (!t.startsWith('--')) { normalized.push(t); continue }
    const eq = t.indexOf('=')
    const name = eq < 0 ? t.slice(2) : t.slice(2, eq)
    const value = eq < 0 ? undefined : t.slice(eq + 1)
    const known = name === 'json' || name === 'help' || byName.has(name)
    if (!known) {
      const neg = name.startsWith('no-') ? name.slice(3) : undefined
      if (neg !== undefined && (neg === 'json' || byName.has(neg))) {
        if (!isBool(neg)) throw bad(`--${name}: --${neg} is not an on/off flag`)
        if (value !== undefined) throw bad(`--${name} takes no value`)
        // Negation is ours, not yargs': a flag may itself be named no-… (e.g. --no-wait).
        normalized.push(`--${neg}=false`)
        continue
      }
      throw bad(`unknown flag --${name}`)
    }
    if (isBool(name)) {
      if (value !== undefined && value !== 'true' && value !== 'false') throw bad(`--${name} is an on/off flag: use --${name} or --no-${name}`)
      normalized.push(value === undefined ? `--${name}=true` : `--${name}=${value}`)
      continue
    }
    if (value === undefined) {
      const next = tokens[i + 1]
      if (next === undefined || next === '--' || (next.startsWith('-') && next.length > 1 && !/^-\d/.test(next))) {
        throw bad(`--${name} needs a value (--${name}=VALUE)`)
      }
      normalized.push(`--${name}=${next}`)
      i++
      continue
    }
    normalized.push(t)
  }
  normalized.push(...tokens.slice(i))

  // Nothing after the verb (`whoami`): yargs-parser would return exactly this, at some cost
  // (its tables are rebuilt per call), and every flag below takes its default.
  const argv = normalized.length === 0 ? { _: [] } as yargsParser.Arguments : yargsParser(normalized, { configuration: YARGS_CONFIG, string: [...strings], boolean: [...booleans] })

  const flags: Record<string, unknown> = {}
  for (const [name, { key, param }] of byName) {
    const raw = argv[name] as unknown
    if (raw === undefined) {
      flags[key] = param.repeatable ? [] : param.default
      continue
    }
    if (param.type === 'bool') {
      if (Array.isArray(raw)) throw bad(`--${name} given more than once`)
      flags[key] = raw === true
      continue
    }
    const list = (Array.isArray(raw) ? raw : [raw]).map(String)
    if (!param.repeatable && list.length > 1) throw bad(`--${name} given more than once`)
    const values = list.map((v) => parseValue(param, v, `--${name}`))
    flags[key] = param.repeatable ? values : values[0]
  }

  const positionals = [...(argv._ as unknown[]), ...((argv['--'] as unknown[] | undefined) ?? [])].map(String)
  const args = bindArgs(cmd.args, positionals, bad)
  const json = argv.json === true && !Array.isArray(argv.json)
  const help = argv.help === true || (Array.isArray(argv.help) && argv.help.includes(true))
  return { args, flags, json, help }
}

function bindArgs(spec: ParamsSpec, positionals: string[], bad: (m: string) => CommandError): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const entries = Object.entries(spec)
  let pos = 0
  for (const [key, param] of entries) {
    const label = `<${flagName(key)}>`
    if (param.repeatable) {
      const rest = positionals.slice(pos)
      pos = positionals.length
      if (rest.length === 0 && !param.optional) throw bad(`missing ${label}`)
      out[key] = rest.map((v) => parseValue(param, v, label))
      continue
    }
    const raw = positionals[pos]
    if (raw === undefined) {
      if (!param.optional) throw bad(`missing ${label}`)
      out[key] = param.default
      continue
    }
    out[key] = parseValue(param, raw, label)
    pos++
  }
  if (pos < positionals.length) throw bad(`unexpected argument "${positionals[pos].slice(0, 40)}"`)
  return out
}
