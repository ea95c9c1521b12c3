import { describe, expect, it } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { p } from '../../src/registry/params.js'
import { parseInput } from '../../src/registry/parse.js'
import { defineCommand } from '../../src/registry/types.js'

const cmd = defineCommand({
  name: 'demo',
  summary: 's', usage: 'demo <machine> [<rest>…] [--name N] [--tag T]… [--force] [--cpu N] [--exp D]', examples: ['demo web'],
  args: { machine: p.machine(), rest: p.string({ repeatable: true, optional: true }) },
  flags: {
    name: p.string({ optional: true }),
    tag: p.string({ repeatable: true }),
    force: p.bool({ short: 'f' }),
    cpu: p.int({ min: 1, max: 64 })({ default: 1 }),
    exp: p.duration({ optional: true }),
    hostPort: p.port({ optional: true }),
  },
  mutates: false,
  run: () => null,
})

const parse = (s: string) => parseInput(cmd, s.split(' ').filter(Boolean))
const fails = (s: string) => {
  try { parse(s) } catch (e) { expect(e).toBeInstanceOf(CommandError); expect((e as CommandError).code).toBe('usage'); return (e as CommandError).message }
  throw new Error(`expected usage error for ${s}`)
}

describe('parseInput', () => {
  it('binds args and typed flags', () => {
    const r = parse('web a b --name=x --tag t1 --tag t2 --force --cpu 4 --exp 10m --host-port 8080 --json')
    expect(r.args).toEqual({ machine: 'web', rest: ['a', 'b'] })
    expect(r.flags).toEqual({ name: 'x', tag: ['t1', 't2'], force: true, cpu: 4, exp: 600, hostPort: 8080 })
    expect(r.json).toBe(true)
  })
  it('applies defaults and empty repeatables', () => {
    expect(parse('web').flags).toEqual({ name: undefined, tag: [], force: false, cpu: 1, exp: undefined, hostPort: undefined })
  })
  it('nothing after the verb (yargs-parser skipped) gives the same input as through yargs-parser', () => {
    const opt = defineCommand({
      name: 'opt', summary: 's', usage: 'opt [<machine>]', examples: ['opt'], mutates: false, run: () => null,
      args: { machine: p.machine({ optional: true }) },
      flags: { tag: p.string({ repeatable: true }), on: p.bool({ default: true }), cpu: p.int({ min: 1, max: 64 })({ default: 1 }), name: p.string({ optional: true }) },
    })
    const viaYargs = parseInput(opt, ['--']) // "--" alone reaches yargs-parser and means nothing more
    const empty = parseInput(opt, [])
    expect(empty).toEqual(viaYargs)
    expect(empty).toEqual({ args: { machine: undefined }, flags: { tag: [], on: true, cpu: 1, name: undefined }, json: false, help: false })
    // A required argument is still required.
    expect(() => parseInput(cmd, [])).toThrow(/missing <machine>/)
  })
  it('--no-flag, --flag=false, short flags', () => {
    expect(parse('web --no-force').flags.force).toBe(false)
    expect(parse('web --force=false').flags.force).toBe(false)
    expect(parse('web -f').flags.force).toBe(true)
  })
  it('-- ends flags', () => {
    const r = parse('web -- --json --name=x')
    expect(r.args.rest).toEqual(['--json', '--name=x'])
    expect(r.json).toBe(false)
    expect(r.flags.name).toBeUndefined()
  })
  it('--help is seen', () => { expect(parse('web --help').help).toBe(true); expect(parse('web -h').help).toBe(true) })
  it.each([
    ['web --bogus', /unknown flag --bogus/],
    ['web -x', /unknown flag -x/],
    ['web --no-name', /not an on\/off flag/],
    ['web --no-bogus', /unknown flag/],
    ['web --force=yes', /on\/off flag/],
    ['web --name', /needs a value/],
    ['web --name --force', /needs a value/],
    ['web --name=a --name=b', /more than once/],
    ['web --cpu=abc', /--cpu: expected a whole number/],
    ['web --cpu=0', /from 1 to 64/],
    ['web --cpu=1e3', /whole number/],
    ['web --exp=10y', /duration/],
    ['web --host-port=70000', /from 1 to 65535/],
    ['', /missing <machine>/],
    ['Web', /not a machine name/],
    ['-bad-', /not a machine name|unknown flag/],
    ['--__proto__=1 web', /unknown flag/],
    ['--constructor web', /unknown flag/],
  ])('%j → usage %s', (line, re) => {
    expect(fails(line)).toMatch(re)
  })
  it('extra positional → usage', () => {
    const one = defineCommand({ name: 'one', summary: 's', usage: 'one <a>', examples: ['one x'], args: { a: p.string() }, mutates: false, run: () => null })
    expect(() => parseInput(one, ['x', 'y'])).toThrow(/unexpected argument "y"/)
  })
  it('usage errors carry the verb usage line as hint', () => {
    try { parse('web --bogus') } catch (e) { expect((e as CommandError).hint).toBe(`usage: ${cmd.usage}`) }
  })
})

describe('flags named no-…', () => {
  const c = defineCommand({ name: 'nw', summary: 's', usage: 'nw [--no-wait]', examples: ['nw'], flags: { noWait: p.bool(), wait: p.bool({ default: true }) }, mutates: false, run: () => null })
  it('--no-wait sets noWait, not wait=false', () => {
    expect(parseInput(c, ['--no-wait']).flags).toEqual({ noWait: true, wait: true })
    expect(parseInput(c, ['--no-no-wait']).flags).toEqual({ noWait: false, wait: true })
    expect(parseInput(c, []).flags).toEqual({ noWait: false, wait: true })
  })
})
