// The one list of verbs, looked up by longest word match: `port open web` → `port open`.
import { CommandError } from '../errors.js'
import type { Command } from './types.js'

export class Registry {
  private readonly byName = new Map<string, Command>()
  private readonly maxWords: number

  constructor(readonly commands: readonly Command[]) {
    for (const c of commands) {
      if (this.byName.has(c.name)) throw new Error(`duplicate verb "${c.name}"`)
      if (!/^[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)*$/.test(c.name)) throw new Error(`bad verb name "${c.name}"`)
      this.byName.set(c.name, c)
    }
    this.maxWords = Math.max(1, ...commands.map((c) => c.words.length))
  }

  get(name: string): Command | undefined {
    return this.byName.get(name)
  }

  /** The verb the tokens start with, and the tokens after it. */
  resolve(tokens: string[]): { cmd: Command; rest: string[] } {
    for (let n = Math.min(this.maxWords, tokens.length); n >= 1; n--) {
      const cmd = this.byName.get(tokens.slice(0, n).join(' '))
      if (cmd) return { cmd, rest: tokens.slice(n) }
    }
    throw this.unknown(tokens)
  }

  private unknown(tokens: string[]): CommandError {
    const first = tokens[0] ?? ''
    const shown = JSON.stringify(first.slice(0, 40))
    const children = this.commands.filter((c) => c.words.length > 1 && c.words[0] === first)
    if (children.length > 0) {
      const sub = tokens[1] === undefined ? `\`${first}\` needs a sub-command` : `unknown command "${tokens.slice(0, 2).join(' ').slice(0, 60)}"`
      return new CommandError('unknown_command', sub, { hint: `try: ${children.map((c) => c.name).join(', ')}` })
    }
    const near = closest(first, [...new Set(this.commands.map((c) => c.words[0]))])
    return new CommandError('unknown_command', `unknown command ${shown}`, {
      hint: near ? `did you mean \`${near}\`? run \`help\` to list commands` : 'run `help` to list commands',
    })
  }
}

function closest(word: string, names: string[]): string | undefined {
  if (word.length > 64) return undefined
  let best: string | undefined
  let bestD = 3
  for (const n of names) {
    const d = distance(word, n)
    if (d < bestD) { bestD = d; best = n }
  }
  return best
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]
}
