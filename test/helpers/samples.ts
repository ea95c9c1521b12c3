// A valid sample value for each param type, so suites can build a well-formed line for any verb
// from its spec alone (new verbs are covered without editing the suites).
import { flagName, type Param } from '../../src/registry/params.js'
import type { Command } from '../../src/registry/types.js'

const SAMPLE: Record<string, string> = {
  string: 'sample', int: '1', bool: 'true', duration: '10m', email: 'someone@example.com', size: '512M',
  cidr: '127.0.0.1/32', port: '8080', time: '1h',
}

function sample(p: Param<unknown>, machine: string): string {
  if (p.machine) return machine
  if (p.choices) return p.choices[0]
  return SAMPLE[p.type] ?? 'sample'
}

/** `verb <required args> <required flags>`, with every machine-typed value set to `machine`. */
export function sampleLine(c: Command, machine: string): string {
  const parts = [c.name]
  for (const p of Object.values(c.args)) if (!p.optional || p.machine) parts.push(sample(p, machine))
  for (const [k, p] of Object.entries(c.flags)) if ((!p.optional && !p.repeatable) || p.machine) parts.push(`--${flagName(k)}=${sample(p, machine)}`)
  return parts.join(' ')
}

export const takesMachine = (c: Command) => [...Object.values(c.args), ...Object.values(c.flags)].some((p) => p.machine)
