// The operator's door, through the real binary: same parser, output and exit statuses as SSH.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newPublicKey } from '../helpers/app.js'

const bin = join(import.meta.dirname, '../../dist/cli.js')
let dir: string
const boxd = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, BOXD_DATA_DIR: dir }, input: input ?? '', encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'boxd-e2e-run-'))
  const key = join(dir, 'admin.pub')
  writeFileSync(key, `${newPublicKey('admin-laptop')}\n`)
  execFileSync(process.execPath, [bin, 'user', 'add', '--email', 'admin@example.com', '--key', key, '--admin', '--data-dir', dir])
  writeFileSync(join(dir, 'bob.pub'), `${newPublicKey('bob')}\n`)
  execFileSync(process.execPath, [bin, 'user', 'add', '--email', 'bob@example.com', '--key', join(dir, 'bob.pub'), '--data-dir', dir])
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('boxd run', () => {
  it('whoami --json prints the account (default: first admin)', () => {
    const r = boxd(['run', 'whoami --json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ email: 'admin@example.com', role: 'admin', ssh_keys: [{ name: 'admin-laptop' }] })
  })
  it('--as picks the user; words are joined like ssh', () => {
    const r = boxd(['run', '--as', 'bob@example.com', 'whoami', '--json'])
    expect(JSON.parse(r.out).email).toBe('bob@example.com')
  })
  it.each([
    ['nosuchverb', 5, /unknown command/],
    ['whoami --bogus', 2, /unknown flag --bogus/],
    ["whoami 'x", 2, /unbalanced single quote/],
    ['ssh-key rename nope other', 6, /no key/],
    ['ssh-key remove admin-laptop', 7, /last key/],
  ])('%j exits %i', (line, code, re) => {
    const r = boxd(['run', line])
    expect(r.code).toBe(code)
    expect(r.err).toMatch(re)
    expect(r.out).toBe('')
  })
  it('reads a key from stdin', () => {
    const r = boxd(['run', '--as', 'bob@example.com', 'ssh-key add --name=piped --json'], newPublicKey('x'))
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out).name).toBe('piped')
  })
  it('unknown --as user → not_found (6)', () => {
    expect(boxd(['run', '--as', 'who@example.com', 'whoami']).code).toBe(6)
  })
})

describe('boxd user', () => {
  it('user ls --json lists accounts', () => {
    const r = boxd(['user', 'ls', '--json'])
    expect(JSON.parse(r.out).users.map((u: { email: string }) => u.email)).toEqual(['admin@example.com', 'bob@example.com'])
  })
  it('user add with an existing email → conflict (7)', () => {
    const r = boxd(['user', 'add', '--email', 'bob@example.com', '--key', join(dir, 'bob.pub')])
    expect(r.code).toBe(7)
  })
  it('user add with a bad email → usage (2)', () => {
    expect(boxd(['user', 'add', '--email', 'nope', '--key', join(dir, 'bob.pub')]).code).toBe(2)
  })
  it('every sub-command has --help', () => {
    for (const sub of [['serve'], ['user', 'add'], ['user', 'ls'], ['run']]) {
      const r = boxd([...sub, '--help'])
      expect(r.code, sub.join(' ')).toBe(0)
      expect(r.out).toMatch(/Usage: boxd/)
    }
  })
})

describe('boxd image', () => {
  const tarOf = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'boxd-img-'))
    for (const [f, target] of Object.entries(files)) {
      execFileSync('mkdir', ['-p', join(root, f, '..')])
      if (target.startsWith('->')) execFileSync('ln', ['-s', target.slice(2), join(root, f)])
      else execFileSync('cp', [target, join(root, f)])
    }
    const tar = `${root}.tar`
    execFileSync('tar', ['-C', root, '-cf', tar, '.'])
    rmSync(root, { recursive: true, force: true })
    return tar
  }
  it('imports a root filesystem tar, lists it, refuses a duplicate (7) and a tar without /bin/sh (2)', () => {
    const good = tarOf({ 'bin/busybox': '/bin/busybox', 'bin/sh': '->busybox' })
    const bad = tarOf({ 'etc/hostname': '/etc/hostname' })
    expect(boxd(['image', 'import', 'tiny', good]).code).toBe(0)
    expect(JSON.parse(boxd(['image', 'ls', '--json']).out)).toEqual({ images: [{ name: 'host' }, { name: 'tiny' }] })
    const dup = boxd(['image', 'import', 'tiny', good])
    expect([dup.code, dup.err]).toEqual([7, 'error: image tiny already exists\n'])
    const noSh = boxd(['image', 'import', 'nosh', bad])
    expect(noSh.code).toBe(2)
    expect(noSh.err).toMatch(/no \/bin\/sh/)
    expect(boxd(['image', 'import', 'host', good]).code).toBe(2)
    rmSync(good); rmSync(bad)
  })
})
