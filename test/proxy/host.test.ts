// Which Host headers reach a machine: only `<m>.<domain>` and `<m>-<port>.<domain>`.
import { describe, expect, it } from 'vitest'
import { parseMachineHost } from '../../src/proxy/host.js'

const D = 'boxd.localhost'

describe('parseMachineHost', () => {
  it.each([
    ['web.boxd.localhost', { machine: 'web' }],
    ['web.boxd.localhost:8443', { machine: 'web' }],
    ['WEB.Boxd.Localhost', { machine: 'web' }],
    ['web.boxd.localhost.', { machine: 'web' }],
    ['web-3000.boxd.localhost', { machine: 'web', port: 3000 }],
    ['my-app-8080.boxd.localhost:443', { machine: 'my-app', port: 8080 }],
  ])('%s → a machine', (host, want) => {
    expect(parseMachineHost(host, D)).toMatchObject(want)
  })

  it.each([
    ['boxd.localhost', 'the API domain itself'],
    ['127.0.0.1:8443', 'an address'],
    ['[::1]:8443', 'an IPv6 literal'],
    ['a.web.boxd.localhost', 'two labels (never a machine)'],
    ['web.boxd.localhost.evil.com', 'the domain as a prefix of another'],
    ['webboxd.localhost', 'no dot before the domain'],
    ['web-0.boxd.localhost', 'port 0'],
    ['web-070.boxd.localhost', 'a port with a leading zero (two spellings of one port)'],
    ['web-70000.boxd.localhost', 'a port over 65535'],
    ['-web.boxd.localhost', 'not a DNS label'],
    ['we_b.boxd.localhost', 'not a DNS label'],
    ['', 'empty'],
  ])('%s → the API (%s)', (host) => {
    expect(parseMachineHost(host, D)).toBeUndefined()
  })
})
