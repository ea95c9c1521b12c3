import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { crlf, isSecretLine, LiveLine, progressSink } from '../../src/ssh/terminal.js'

const sink = () => {
  const s = new PassThrough()
  let out = ''
  s.on('data', (c) => (out += c))
  return { s, text: () => out }
}

describe('terminal helpers', () => {
  it('crlf turns every line end into CRLF once', () => {
    expect(crlf('a\nb\r\nc\n')).toBe('a\r\nb\r\nc\r\n')
  })

  it.each([
    ['token shorten boxd0.eyJ.c2ln', true],
    ['x boxd1.abcdef', true],
    ['ssh-key add -----BEGIN OPENSSH PRIVATE KEY-----', true],
    ['whoami --json', false],
    ['ssh-key add ssh-ed25519 AAAA', false],
  ])('isSecretLine(%j) = %s', (line, secret) => {
    expect(isSecretLine(line)).toBe(secret)
  })

  it('LiveLine redraws in place, clips to the width, strips control characters', async () => {
    const { s, text } = sink()
    const live = new LiveLine(s, () => 12)
    live.show('abc')
    live.show('a\x1b[2Jvery long progress line')
    live.done()
    await new Promise((r) => setImmediate(r))
    expect(text()).toBe('\r\x1b[Kabc\r\x1b[Ka [2Jvery …\r\n')
  })

  it('progressSink: nothing with --json, even on a TTY', () => {
    const { s } = sink()
    expect(progressSink('ls --json', new LiveLine(s, () => 80), s).report).toBeUndefined()
    expect(progressSink('ls -- --json', undefined, s).report).toBeTypeOf('function')
  })
})
