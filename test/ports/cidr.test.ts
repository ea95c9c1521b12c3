// --to allow-lists: parsing and matching, including IPv4 peers seen on a dual-stack listener.
import { describe, expect, it } from 'vitest'
import { ALLOW_ALL, AllowList, parseCidr } from '../../src/ports/cidr.js'

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'], ['192.168.1.7', '192.168.1.7/32'], ['2001:DB8::/32', '2001:db8::/32'], ['::1', '::1/128'], [' 0.0.0.0/0 ', '0.0.0.0/0'],
  ])('%s → %s', (raw, want) => expect(parseCidr(raw)).toBe(want))
  it.each(['10.0.0.0/33', '::/129', '10.0.0/8', 'example.com', 'fe80::1%eth0', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/08x'])('refuses %s', (raw) => {
    expect(() => parseCidr(raw)).toThrow()
  })
})

describe('AllowList', () => {
  it('matches IPv4, IPv6 and IPv4-mapped IPv6 peers', () => {
    const l = new AllowList(['10.0.0.0/8', '2001:db8::/32'])
    expect(l.allows('10.1.2.3')).toBe(true)
    expect(l.allows('::ffff:10.1.2.3')).toBe(true)
    expect(l.allows('11.0.0.1')).toBe(false)
    expect(l.allows('::ffff:11.0.0.1')).toBe(false)
    expect(l.allows('2001:db8::5')).toBe(true)
    expect(l.allows('2001:db9::5')).toBe(false)
  })
  it('refuses a peer with no address (never "allowed by default")', () => {
    expect(new AllowList(ALLOW_ALL).allows(undefined)).toBe(false)
    expect(new AllowList(ALLOW_ALL).allows('not-an-ip')).toBe(false)
  })
  it('the default allows every address of both families', () => {
    const l = new AllowList(ALLOW_ALL)
    for (const a of ['127.0.0.1', '8.8.8.8', '::1', '::ffff:1.2.3.4', '2a00::1']) expect(l.allows(a), a).toBe(true)
  })
})
