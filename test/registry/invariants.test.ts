// Tree-wide invariants: every verb declares what it is, where it lives, and who may run it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { Registry } from '../../src/registry/registry.js'

const root = join(import.meta.dirname, '../..')
const commandFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? commandFiles(p) : f.endsWith('.ts') && f !== 'index.ts' ? [p] : []
  })

describe('registry invariants', () => {
  it('builds (names unique and well-formed)', () => {
    expect(() => new Registry(commands)).not.toThrow()
  })

  it.each(commands.map((c) => [c.name, c] as const))('%s: summary, usage, examples, mutates declared', (_n, c) => {
    expect(c.summary.length).toBeGreaterThan(5)
    expect(c.usage.startsWith(c.name)).toBe(true)
    expect(c.examples.length).toBeGreaterThanOrEqual(1)
    expect(typeof c.mutates).toBe('boolean')
    expect(typeof c.admin).toBe('boolean')
    // Only the last positional may take the rest.
    const args = Object.values(c.args)
    args.slice(0, -1).forEach((a) => expect(a.repeatable).toBe(false))
  })

  it.each(commands.map((c) => [c.name] as const))('%s: file path matches the verb name', (name) => {
    const path = join(root, 'commands', `${name.split(' ').join('/')}.ts`)
    expect(existsSync(path)).toBe(true)
    expect(readFileSync(path, 'utf8')).toMatch(new RegExp(`name: '${name}'`))
  })

  it('every command file is listed in commands/index.ts', () => {
    const listed = new Set(commands.map((c) => c.name))
    for (const f of commandFiles(join(root, 'commands'))) {
      const src = readFileSync(f, 'utf8')
      if (!src.includes('export default defineCommand')) continue
      const name = relative(join(root, 'commands'), f).replace(/\.ts$/, '').split('/').join(' ')
      expect(listed.has(name), `${name} not listed`).toBe(true)
    }
  })

  it('no command imports a transport (ssh, http) or writes to a stream', () => {
    for (const f of commandFiles(join(root, 'commands'))) {
      const src = readFileSync(f, 'utf8')
      expect(src, f).not.toMatch(/from ['"][^'"]*src\/(ssh|http)\//)
      expect(src, f).not.toMatch(/from ['"](ssh2|hono|@hono\/node-server)['"]/)
      expect(src, f).not.toMatch(/process\.(stdout|stderr|stdin)/)
      expect(src, f).not.toMatch(/\bflags\[['"]|\bargs\[['"]/) // flags are typed, never read by string name
    }
  })
})
