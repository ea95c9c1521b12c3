// Help as data (for `help --json`, bindings) and as text. Derived from the verb specs only.
import { flagName, type Param, type ParamsSpec } from './params.js'
import { GLOBAL_FLAGS } from './parse.js'
import type { Command } from './types.js'

export interface ParamHelp {
  name: string
  type: string
  required: boolean
  repeatable: boolean
  default?: unknown
  choices?: readonly string[]
  short?: string
  description: string
}

export interface VerbHelp {
  name: string
  group: string
  summary: string
  description?: string
  usage: string
  examples: string[]
  mutates: boolean
  admin: boolean
  args: ParamHelp[]
  flags: ParamHelp[]
}

function params(spec: ParamsSpec, asFlags: boolean): ParamHelp[] {
  return Object.entries(spec).map(([key, p]: [string, Param<unknown>]) => {
    const h: ParamHelp = {
      name: asFlags ? `--${flagName(key)}` : flagName(key),
      type: p.type,
      required: !p.optional && !(asFlags && p.repeatable) && p.type !== 'bool',
      repeatable: p.repeatable,
      description: p.description,
    }
    if (p.default !== undefined) h.default = p.default
    if (p.choices) h.choices = p.choices
    if (p.short) h.short = `-${p.short}`
    return h
  })
}

export function verbHelp(c: Command): VerbHelp {
  const globals: ParamHelp[] = Object.entries(GLOBAL_FLAGS).map(([name, g]) => ({
    name: `--${name}`, type: 'bool', required: false, repeatable: false, default: false, description: g.description,
    ...('short' in g ? { short: `-${g.short}` } : {}),
  }))
  return {
    name: c.name, group: c.group, summary: c.summary, ...(c.description ? { description: c.description } : {}),
    usage: c.usage, examples: c.examples, mutates: c.mutates, admin: c.admin,
    args: params(c.args, false), flags: [...params(c.flags, true), ...globals],
  }
}

export function verbHelpText(h: VerbHelp): string {
  const lines = [`${h.name} — ${h.summary}`, '', `usage: ${h.usage}`]
  if (h.description) lines.push('', h.description)
  const rows = [...h.args.map((a) => [`<${a.name}>${a.repeatable ? '…' : ''}`, a]), ...h.flags.map((f) => [`${f.short ? `${f.short}, ` : ''}${f.name}${f.type === 'bool' ? '' : '=' + f.type.toUpperCase()}`, f])] as [string, ParamHelp][]
  if (rows.length) {
    const w = Math.max(...rows.map(([n]) => n.length))
    lines.push('', 'arguments and flags:')
    for (const [n, p] of rows) {
      const extra = [p.required ? 'required' : '', p.repeatable && p.name.startsWith('--') ? 'repeatable' : '', p.default !== undefined && p.default !== false ? `default ${JSON.stringify(p.default)}` : '', p.choices ? `one of ${p.choices.join('|')}` : ''].filter(Boolean).join(', ')
      lines.push(`  ${n.padEnd(w)}  ${p.description}${extra ? ` (${extra})` : ''}`.trimEnd())
    }
  }
  lines.push('', 'examples:', ...h.examples.map((e) => `  ${e}`))
  return lines.join('\n')
}

export function treeText(verbs: VerbHelp[]): string {
  const groups = new Map<string, VerbHelp[]>()
  for (const v of verbs) groups.set(v.group, [...(groups.get(v.group) ?? []), v])
  const w = Math.max(...verbs.map((v) => v.name.length))
  const out: string[] = []
  for (const [g, vs] of [...groups].sort(([a], [b]) => (a === 'general' ? -1 : b === 'general' ? 1 : a.localeCompare(b)))) {
    out.push(`${g}:`, ...vs.map((v) => `  ${v.name.padEnd(w)}  ${v.summary}`), '')
  }
  out.push('Run `help <verb>` or `<verb> --help` for details; add --json for machine-readable output.')
  return out.join('\n')
}
