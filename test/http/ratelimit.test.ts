// The limiter on its own: continuous refill, all-or-nothing charges, headers, and which quota a
// principal spends.
import { describe, expect, it } from 'vitest'
import { CommandError } from '../../src/errors.js'
import { rateKeyOf, RateLimiter } from '../../src/auth/ratelimit.js'
import type { Principal } from '../../src/auth/principal.js'
import { MovableClock } from '../helpers/http.js'

function refused(fn: () => unknown): CommandError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(CommandError)
    return e as CommandError
  }
  throw new Error('expected rate_limited')
}

describe('RateLimiter', () => {
  it('allows the quota, then refuses with Retry-After until one request has refilled', () => {
    const clock = new MovableClock()
    const l = new RateLimiter({ perMinute: 6, mutatingPerMinute: 0, perHour: 0 }, clock)
    for (let i = 0; i < 6; i++) l.take('k', 'request')
    const e = refused(() => l.take('k', 'request'))
    expect(e.code).toBe('rate_limited')
    expect(e.headers?.['Retry-After']).toBe('10') // 6/min → one every 10 s
    clock.advance(9_000)
    refused(() => l.take('k', 'request'))
    clock.advance(1_100)
    expect(() => l.take('k', 'request')).not.toThrow()
  })

  it('a refused request spends nothing (all or nothing across policies)', () => {
    const clock = new MovableClock()
    const l = new RateLimiter({ perMinute: 10, mutatingPerMinute: 1, perHour: 100 }, clock)
    l.take('k', 'both')
    for (let i = 0; i < 5; i++) refused(() => l.take('k', 'both'))
    // 1 spent of 10 per minute: 9 reads left despite the 5 refused writes.
    for (let i = 0; i < 9; i++) l.take('k', 'request')
    refused(() => l.take('k', 'request'))
  })

  it('no burst at a window edge: a full minute spent at 0:59 is not available again at 1:00', () => {
    const clock = new MovableClock()
    const l = new RateLimiter({ perMinute: 60, mutatingPerMinute: 0, perHour: 0 }, clock)
    clock.advance(59_000)
    for (let i = 0; i < 60; i++) l.take('k', 'request')
    clock.advance(1_000)
    l.take('k', 'request')
    refused(() => l.take('k', 'request'))
  })

  it('keys are independent', () => {
    const l = new RateLimiter({ perMinute: 1, mutatingPerMinute: 0, perHour: 0 }, new MovableClock())
    l.take('a', 'request')
    refused(() => l.take('a', 'request'))
    expect(() => l.take('b', 'request')).not.toThrow()
  })

  it('headers: RateLimit-Policy lists every policy, RateLimit names the tightest', () => {
    const frozen = { now: () => new Date('2026-01-01T00:00:00Z') }
    const l = new RateLimiter({ perMinute: 60, mutatingPerMinute: 30, perHour: 1000 }, frozen)
    const { headers } = l.take('k', 'request')
    expect(headers['RateLimit-Policy']).toBe('"minute";q=60;w=60, "mutating";q=30;w=60, "hour";q=1000;w=3600')
    expect(headers.RateLimit).toBe('"minute";r=59;t=1')
    // minute 58/60 vs mutating 29/30: a tie goes to the first policy; one more write makes mutating tightest.
    expect(l.take('k', 'both').headers.RateLimit).toBe('"minute";r=58;t=2')
    expect(l.take('k', 'mutating').headers.RateLimit).toBe('"mutating";r=28;t=4')
  })

  it('0 means no limit for that policy; all zero disables limiting', () => {
    const l = new RateLimiter({ perMinute: 0, mutatingPerMinute: 0, perHour: 0 }, new MovableClock())
    for (let i = 0; i < 10_000; i++) l.take('k', 'both')
    expect(l.take('k', 'both').headers).toEqual({})
  })

  it('rejects nonsense limits at wiring time', () => {
    expect(() => new RateLimiter({ perMinute: -1, mutatingPerMinute: 0, perHour: 0 }, new MovableClock())).toThrow(TypeError)
    expect(() => new RateLimiter({ perMinute: 1.5, mutatingPerMinute: 0, perHour: 0 }, new MovableClock())).toThrow(TypeError)
  })

  it('memory stays bounded: idle callers are forgotten once many keys exist', () => {
    const clock = new MovableClock()
    const l = new RateLimiter({ perMinute: 60, mutatingPerMinute: 0, perHour: 0 }, clock)
    for (let i = 0; i < 10_000; i++) l.take(`k${i}`, 'request')
    clock.advance(120_000)
    l.take('new', 'request')
    expect((l as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThan(10)
  })
})

describe('rateKeyOf', () => {
  const user = { id: 'usr_1', email: 'a@b.c', role: 'user' as const }
  it.each<[string, Principal, string | undefined]>([
    ['ssh key → the key', { user, via: 'ssh-key', keyFingerprint: 'SHA256:abc' }, 'key:SHA256:abc'],
    ['boxd0 token → its signing key', { user, via: 'token', keyFingerprint: 'SHA256:abc', token: { id: 'sig_1', claims: {} } }, 'key:SHA256:abc'],
    ['boxd1 handle → the account', { user, via: 'token', keyFingerprint: 'SHA256:abc', token: { id: 'tok_1', claims: {} } }, 'user:usr_1'],
    ['local → exempt', { user, via: 'local', keyFingerprint: null }, undefined],
  ])('%s', (_n, p, want) => {
    expect(rateKeyOf(p)).toBe(want)
  })
})
