import { describe, expect, it } from 'vitest'
import { p } from '../../src/registry/params.js'
import { machinesOf, redactFirstWord, redactInput, redactString, REDACTED } from '../../src/ops/redact.js'
import { futureTime, parseTimeRef, pastTime } from '../../src/ops/time.js'

describe('redaction', () => {
  it.each([
    ['boxd0.eyJjbWRzIjpbXX0.AAAA', REDACTED],
    ['prefix boxd1.k3j4l5 suffix', `prefix ${REDACTED} suffix`],
    ['whsec_abcDEF-123', REDACTED],
    ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----', REDACTED],
    ['https://user:pw@example.com/hook?token=abc', `https://${REDACTED}@example.com/hook?${REDACTED}`],
    ['https://example.com/hook', 'https://example.com/hook'],
    ['web', 'web'],
  ])('%j → %j', (input, out) => {
    expect(redactString(input)).toBe(out)
  })

  it('long values are clipped', () => {
    expect(redactString('x'.repeat(1000))).toHaveLength(257)
  })

  it('declared secrets are dropped by spec; defaults and empty lists are left out', () => {
    const spec = {
      args: { words: p.string({ repeatable: true, optional: true }) },
      flags: { secret: p.string({ optional: true, secret: true }), verbose: p.bool(), tags: p.string({ repeatable: true }) },
    }
    expect(JSON.parse(redactInput(spec, { args: { words: ['a', 'b'] }, flags: { secret: 'hunter2', verbose: false, tags: [] } })))
      .toEqual({ args: { words: ['a', 'b'] }, flags: { secret: REDACTED } })
  })

  it('a private key split across words is recognised when read together', () => {
    const spec = { args: { key: p.string({ repeatable: true }) }, flags: {} }
    const words = '-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk -----END OPENSSH PRIVATE KEY-----'.split(' ')
    expect(JSON.parse(redactInput(spec, { args: { key: words }, flags: {} })).args.key).toBe(REDACTED)
  })

  it('oversized argument JSON is replaced by its size', () => {
    const spec = { args: { words: p.string({ repeatable: true }) }, flags: {} }
    const r = JSON.parse(redactInput(spec, { args: { words: Array.from({ length: 100 }, () => 'y'.repeat(200)) }, flags: {} }))
    expect(r).toMatchObject({ truncated: true })
  })

  it('first word only, and only if it is not a credential', () => {
    expect(redactFirstWord('deploy --token boxd0.abc')).toBe('deploy')
    expect(redactFirstWord('boxd1.abcdef whoami')).toBe(REDACTED)
    expect(redactFirstWord('x -----BEGIN RSA PRIVATE KEY-----')).toBe(REDACTED)
  })

  it('machine-typed inputs are collected for --machine', () => {
    const spec = { args: { machine: p.machine({ repeatable: true }) }, flags: { to: p.machine({ optional: true }) } }
    expect(machinesOf(spec, { args: { machine: ['web', 'db'] }, flags: { to: 'x' } })).toEqual(['web', 'db', 'x'])
  })
})

describe('times', () => {
  const now = new Date('2026-11-23T12:00:00.000Z')
  it.each([
    ['1h', '2026-11-23T11:00:00.000Z', '2026-11-23T13:00:00.000Z'],
    ['7d', '2026-11-16T12:00:00.000Z', '2026-11-30T12:00:00.000Z'],
    ['2026-11-01', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
    ['2026-11-01T10:30', '2026-11-01T10:30:00.000Z', '2026-11-01T10:30:00.000Z'],
    ['2026-11-01T10:30:00+02:00', '2026-11-01T08:30:00.000Z', '2026-11-01T08:30:00.000Z'],
  ])('%s → past %s, future %s', (raw, past, future) => {
    const ref = parseTimeRef(raw)
    expect(pastTime(ref, now).toISOString()).toBe(past)
    expect(futureTime(ref, now).toISOString()).toBe(future)
  })
  it.each(['yesterday', '1 hour', '2026-13-45', '2026-11-01T25:00', '-1h', ''])('rejects %j', (raw) => {
    expect(() => parseTimeRef(raw)).toThrow()
  })
})
