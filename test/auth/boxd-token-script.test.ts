// scripts/boxd-token.sh with the real ssh-keygen: the tokens it prints verify, with the defaults
// the README promises (key search order, {} payload, BOXD_DOMAIN), sourced or run directly.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { TokenVerifier } from '../../src/auth/token.js'
import { Registry, expectRejected } from './helpers.js'

const script = new URL('../../scripts/boxd-token.sh', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'boxd-token-sh-'))
afterAll(() => rmSync(home, { recursive: true, force: true }))
mkdirSync(join(home, '.ssh'))
// Only an ECDSA key: the search must skip the missing id_ed25519 and take id_ecdsa, not id_rsa.
for (const [name, type] of [['id_ecdsa', 'ecdsa'], ['id_rsa', 'rsa']]) {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(home, '.ssh', name)])
}
const registry = new Registry()
registry.add(readFileSync(join(home, '.ssh', 'id_ecdsa.pub'), 'utf8').split(' ').slice(0, 2).join(' '))
const verifierFor = (ns: string) => new TokenVerifier({ namespace: ns, lookup: registry.lookup })

function run(args: string[], env: Record<string, string> = {}) {
  const { BOXD_DOMAIN: _, ...base } = process.env
  return spawnSync('sh', args, { encoding: 'utf8', env: { ...base, HOME: home, ...env } })
}

test('run directly: signs the given payload with the first default key for v0@boxd.localhost', () => {
  const r = run([script, '{"cmds":["ls"]}'])
  expect(r.status).toBe(0)
  expect(r.stdout).toMatch(/^boxd0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/)
  expect(verifierFor('v0@boxd.localhost').verify(r.stdout.trim()).claims).toStrictEqual({ cmds: ['ls'] })
})

test('BOXD_DOMAIN picks the namespace, and a token for one domain fails at another', () => {
  const token = run([script], { BOXD_DOMAIN: 'example.test' }).stdout.trim()
  expect(verifierFor('v0@example.test').verify(token).payload).toBe('{}')
  expectRejected(() => verifierFor('v0@boxd.localhost').verify(token), /different namespace/)
})

test('sourced: defines boxdtoken, prints nothing itself; explicit key and domain win', () => {
  expect(run(['-c', `. '${script}'`]).stdout).toBe('')
  const key = join(home, '.ssh', 'id_ecdsa')
  const r = run(['-c', `. '${script}' && boxdtoken '' '${key}' web.boxd.localhost`])
  expect(r.status).toBe(0)
  expect(verifierFor('v0@web.boxd.localhost').verify(r.stdout.trim()).payload).toBe('{}')
})

test('fails with a clear message when no key exists', () => {
  const r = run([script], { HOME: join(home, 'nowhere') })
  expect(r.status).toBe(1)
  expect(r.stdout).toBe('')
  expect(r.stderr).toMatch(/no SSH key found/)
})
