import { describe, expect, it } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { quote, tokenize } from '../../src/registry/tokenize.js'

describe('tokenize', () => {
  it.each([
    ['ls', ['ls']],
    ['  new   --name=web  ', ['new', '--name=web']],
    ["say 'hello world'", ['say', 'hello world']],
    ['say "hello world"', ['say', 'hello world']],
    ['a "b\\"c"', ['a', 'b"c']],
    ['a "b\\\\c"', ['a', 'b\\c']],
    ['a "b\\nc"', ['a', 'b\\nc']], // only \" \\ \$ \` escape inside double quotes
    ["a 'b\\c'", ['a', 'b\\c']], // nothing escapes inside single quotes
    ['a b\\ c', ['a', 'b c']],
    ['a \\"', ['a', '"']],
    ["a ''", ['a', '']],
    ['a ""', ['a', '']],
    ["a 'x'\"y\"z", ['a', 'xyz']],
    ['echo $(id)', ['echo', '$(id)']],
    ['echo `id`', ['echo', '`id`']],
    ['echo $HOME *', ['echo', '$HOME', '*']],
    ['echo a;b|c&&d>e', ['echo', 'a;b|c&&d>e']],
    ['a\tb\nc\r\nd', ['a', 'b', 'c', 'd']],
    ['héllo wörld 🚀', ['héllo', 'wörld', '🚀']],
    ['', []],
    ['   ', []],
  ])('%j → %j', (line, words) => {
    expect(tokenize(line)).toEqual(words)
  })

  it.each([
    ["a 'unterminated", 'usage'],
    ['a "unterminated', 'usage'],
    ['a "x\\"', 'usage'],
    ['trailing \\', 'usage'],
    ['nul\0byte', 'usage'],
    ['x'.repeat(64 * 1024 + 1), 'payload_too_large'],
  ])('rejects %j with %s', (line, code) => {
    const err = (() => { try { tokenize(line); return undefined } catch (e) { return e } })()
    expect(err).toBeInstanceOf(CommandError)
    expect((err as CommandError).code).toBe(code)
  })

  it('accepts a line of exactly 64 KiB', () => {
    expect(tokenize('x'.repeat(64 * 1024))).toHaveLength(1)
  })

  it('quote() round-trips hostile words through tokenize()', () => {
    const words = ['plain', '', 'with space', "it's", '"dq"', '$(id)', 'back\\slash', 'new\nline', '*', '-- --json']
    expect(tokenize(words.map(quote).join(' '))).toEqual(words)
  })
})
