// The /etc a "host"-image machine gets: a sanitized snapshot of the host's (here: of a fixture).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { EtcSnapshots } from '../../src/machines/sandbox/host-etc.js'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-etc-test-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

function fixtureEtc(): string {
  const etc = path.join(root, `etc-${Math.random().toString(36).slice(2)}`)
  const w = (rel: string, body: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(etc, rel)), { recursive: true })
    fs.writeFileSync(path.join(etc, rel), body)
    fs.chmodSync(path.join(etc, rel), mode)
  }
  w('passwd', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n')
  w('group', 'root:x:0:\nshadow:x:42:\nalice:x:1000:\n')
  w('shadow', 'root:$6$salt$hash:19000:0:99999:7:::\nalice:$y$j9T$x$y:19000:0:99999:7:::\n', 0o640)
  w('gshadow', 'root:$6$grouphash::\n', 0o640)
  w('ssh/ssh_host_ed25519_key', 'PRIVATE', 0o600)
  w('ssh/ssh_host_ed25519_key.pub', 'ssh-ed25519 AAAA host', 0o644)
  w('ssh/sshd_config', 'Port 22\n')
  w('ssl/private/server.key', 'KEY', 0o644)
  fs.chmodSync(path.join(etc, 'ssl/private'), 0o700)
  w('app/secret.conf', 'token=abc', 0o600)
  w('app/public.conf', 'hello', 0o644)
  w('machine-id', '0123456789abcdef0123456789abcdef\n', 0o444)
  fs.symlinkSync('/usr/share/zoneinfo/UTC', path.join(etc, 'localtime'))
  return etc
}

describe('sandbox /etc snapshots', () => {
  test('leave out secrets: unreadable files and dirs, ssh host keys, machine-id; lock every password', async () => {
    const snaps = new EtcSnapshots(path.join(root, 'data1'), { source: fixtureEtc() })
    const dir = snaps.pathOf(await snaps.latest())
    const has = (rel: string) => fs.lstatSync(path.join(dir, rel), { throwIfNoEntry: false }) !== undefined
    expect(has('app/public.conf')).toBe(true)
    expect(has('ssh/sshd_config')).toBe(true)
    expect(fs.readlinkSync(path.join(dir, 'localtime'))).toBe('/usr/share/zoneinfo/UTC')
    for (const secret of ['app/secret.conf', 'ssl/private', 'ssh/ssh_host_ed25519_key', 'ssh/ssh_host_ed25519_key.pub', 'machine-id']) {
      expect(has(secret), secret).toBe(false)
    }
    const shadow = fs.readFileSync(path.join(dir, 'shadow'), 'utf8')
    expect(shadow).not.toContain('$')
    expect(shadow.split('\n').filter(Boolean).map((l) => l.split(':').slice(0, 2).join(':'))).toEqual(['root:*', 'alice:*'])
    expect(fs.readFileSync(path.join(dir, 'gshadow'), 'utf8')).not.toContain('$')
    const st = fs.statSync(path.join(dir, 'shadow'))
    expect({ mode: st.mode & 0o777, gid: st.gid }).toEqual({ mode: 0o640, gid: 42 })
  })

  test('same host /etc → same snapshot; a change → a new one, the old kept while in use', async () => {
    const etc = fixtureEtc()
    const snaps = new EtcSnapshots(path.join(root, 'data2'), { source: etc })
    const first = await snaps.latest()
    expect(await new EtcSnapshots(path.join(root, 'data2'), { source: etc }).latest()).toBe(first)
    fs.writeFileSync(path.join(etc, 'app/public.conf'), 'changed')
    const fresh = new EtcSnapshots(path.join(root, 'data2'), { source: etc })
    const second = await fresh.latest()
    expect(second).not.toBe(first)
    expect(fs.readFileSync(path.join(fresh.pathOf(second), 'app/public.conf'), 'utf8')).toBe('changed')
    await fresh.gc(new Set([first]))
    expect(fs.existsSync(fresh.pathOf(first))).toBe(true)
    expect(fs.existsSync(fresh.pathOf(second))).toBe(true)      // the latest always stays
    await fresh.gc(new Set())
    expect(fs.existsSync(fresh.pathOf(first))).toBe(false)
  })
})
