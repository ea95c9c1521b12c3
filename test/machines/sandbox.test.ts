// Sandbox-only guarantees: the isolation gates (named after what they block), the sanitized /etc,
// image import, the forwarder's lifecycle. The shared behaviour is in contract.test.ts.
import { execFileSync, spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { DriverError, type MachineSpec } from '../../src/machines/driver.js'
import { isAlive } from '../../src/machines/forwarder/host-process.js'
import { execArgv } from '../../src/machines/sandbox/exec.js'
import { importImage, listImages, SandboxDriver } from '../../src/machines/sandbox/index.js'
import type { RunRecord } from '../../src/machines/sandbox/layout.js'
import { eventually, roundTrip, sh, within } from './helpers.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')
const skip = process.getuid?.() !== 0
if (skip) console.log('[machines sandbox] skipping: sandbox driver tests need root')

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-sandbox-only-'))
// File-level, so the dir goes even when a filter skips every test (and the block's hooks).
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }))

describe.skipIf(skip)('sandbox driver', () => {
  const driver = new SandboxDriver({ dataDir, stopGraceMs: 2000 })
  const tag = crypto.randomBytes(3).toString('hex')
  const created: string[] = []
  const hostLeftovers: string[] = []
  const spec = (suffix: string, over: Partial<MachineSpec> = {}): MachineSpec => {
    const id = `s${tag}${suffix}`
    created.push(id)
    return { id, name: `s-${tag}-${suffix}`, image: 'host', env: {}, network: 'none', ...over }
  }
  const up = async (s: MachineSpec) => { await driver.create(s); await driver.start(s); return s }
  const runRecord = (id: string) => JSON.parse(fs.readFileSync(path.join(dataDir, 'machines', id, 'run.json'), 'utf8')) as RunRecord
  let m: MachineSpec

  beforeAll(async () => {
    await driver.check()
    m = await up(spec('main'))
  })

  afterAll(async () => {
    for (const id of created) await driver.remove(id).catch(() => undefined)
    for (const p of hostLeftovers) fs.rmSync(p, { recursive: true, force: true })
  })

  test('a machine started by a boxd process that was SIGKILLed keeps running and is found again', async () => {
    const s = spec('orphan')
    const child = spawn(path.join(repo, 'node_modules/.bin/vite-node'), [path.join(here, 'fixtures/start-machine.ts'), dataDir, s.id, s.name], { stdio: ['ignore', 'pipe', 'inherit'] })
    const pid = await within(new Promise<number>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString()
        const match = /started (\d+)/.exec(out)
        if (match) resolve(Number(match[1]))
      })
      child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)))
    }), 30_000, 'child boxd to start a machine')
    child.kill('SIGKILL')
    await within(new Promise((r) => child.once('exit', r)), 5000, 'child to die')
    expect(await driver.status(s.id)).toMatchObject({ state: 'running', pid })
    expect((await sh(driver, s.id, 'hostname')).stdout).toBe(`${s.name}\n`)
    await sh(driver, s.id, 'nohup /dev/.boxd/busybox nc -ll -p 7000 -e /bin/cat >/dev/null 2>&1 &')
    const echoed = await eventually(async () => (await roundTrip(await driver.connect(s.id, 7000), Buffer.from('alive'))).toString(), 10_000, 'connect after restart')
    expect(echoed).toBe('alive')
    await driver.remove(s.id)
  })

  test('root inside holds no host capability: mount, umount of masks, mknod, sysctl, hostname all refused', async () => {
    const r = await sh(driver, m.id, [
      'mount -t tmpfs x /mnt 2>/dev/null && echo MOUNTED',
      'umount /proc/sys 2>/dev/null && echo UNMASKED',
      '/dev/.boxd/busybox mknod /tmp/disk b 8 0 2>/dev/null && echo MKNOD',
      '(echo "|/tmp/x" >/proc/sys/kernel/core_pattern) 2>/dev/null && echo SYSCTL',
      'hostname evil 2>/dev/null && echo HOSTNAME',
      '(echo x >/dev/.boxd/busybox) 2>/dev/null && echo HELPER-WRITABLE',
      'id -u',
    ].join('; '))
    expect(r.stdout).toBe('0\n')
    expect((await sh(driver, m.id, 'hostname')).stdout.trim()).toBe(m.name)
  })

  test('user namespace maps ids one to one: uid 0 is root, chown to any uid works', async () => {
    const r = await sh(driver, m.id, 'cat /proc/self/uid_map; touch /tmp/owned; chown 1234:4321 /tmp/owned; stat -c "%u:%g" /tmp/owned; stat -c %U /usr/bin/passwd')
    expect(r.stdout.replace(/ +/g, ' ').trim().split('\n')).toEqual(['0 0 4294967295', '1234:4321', 'root'])
  })

  test('exec joins the machine cgroup and cgroup namespace', async () => {
    const r = await sh(driver, m.id, 'cat /proc/self/cgroup')
    const lines = r.stdout.trim().split('\n')
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(line).toMatch(/:\/$/)
  })

  test('writes inside never reach the host: /usr, /etc and the dpkg database are copy-on-write', async () => {
    const name = `boxd-leak-${tag}`
    await sh(driver, m.id, `echo x >/usr/bin/${name}; echo x >/etc/${name}; echo x >/var/lib/dpkg/${name}; echo evil >>/etc/passwd`)
    expect((await sh(driver, m.id, `cat /usr/bin/${name}`)).stdout).toBe('x\n')
    for (const p of [`/usr/bin/${name}`, `/etc/${name}`, `/var/lib/dpkg/${name}`]) expect(fs.existsSync(p)).toBe(false)
    expect(fs.readFileSync('/etc/passwd', 'utf8')).not.toContain('evil')
  })

  test('/etc is a sanitized copy: no password hashes, no ssh host keys, own hostname and machine-id', async () => {
    const other = await up(spec('etc'))
    const r = await sh(driver, m.id, 'grep -c "[$]" /etc/shadow; grep "^root:" /etc/shadow | cut -d: -f2; ls /etc/ssh 2>/dev/null | grep -c "^ssh_host_"; cat /etc/hostname /etc/machine-id')
    const [hashes, rootPw, hostKeys, hostname, machineId] = r.stdout.trim().split('\n')
    expect({ hashes, rootPw, hostKeys, hostname }).toEqual({ hashes: '0', rootPw: '*', hostKeys: '0', hostname: m.name })
    expect(machineId).toMatch(/^[0-9a-f]{32}$/)
    expect((await sh(driver, other.id, 'cat /etc/machine-id')).stdout.trim()).not.toBe(machineId)
    await driver.remove(other.id)
  })

  test('apt/dpkg see the host\'s installed packages', async () => {
    const r = await sh(driver, m.id, 'dpkg-query -W -f="\\${Status}" coreutils')
    expect(r.stdout).toBe('install ok installed')
  })

  test('network none: only loopback, and it is up', async () => {
    const r = await sh(driver, m.id, 'ls /sys/class/net; cat /sys/class/net/lo/flags')
    const [ifaces, flags] = r.stdout.trim().split('\n')
    expect(ifaces).toBe('lo')
    expect(Number(flags) & 1).toBe(1)    // IFF_UP
  })

  test('network host: the host\'s interfaces, still its own hostname', async () => {
    const h = await up(spec('hostnet', { network: 'host' }))
    const r = await sh(driver, h.id, 'ls /sys/class/net | sort; hostname')
    const host = fs.readdirSync('/sys/class/net').sort()
    expect(r.stdout).toBe(`${host.join('\n')}\n${h.name}\n`)
    await driver.remove(h.id)
  })

  test('the forwarder: a 0600 socket, respawned when killed, gone after stop', async () => {
    const f = await up(spec('fwd'))
    await sh(driver, f.id, 'nohup /dev/.boxd/busybox nc -ll -p 9000 -e /bin/cat >/dev/null 2>&1 &')
    const echo = async () => (await roundTrip(await driver.connect(f.id, 9000), Buffer.from('x'))).toString()
    expect(await eventually(async () => echo(), 10_000, 'echo server')).toBe('x')
    const sock = path.join(dataDir, 'machines', f.id, 'fwd.sock')
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600)
    const first = runRecord(f.id).forwarder!
    process.kill(first.pid, 'SIGKILL')
    await eventually(async () => (isAlive(first) ? undefined : true), 5000, 'forwarder killed')
    expect(await echo()).toBe('x')
    const second = runRecord(f.id).forwarder!
    expect(second.pid).not.toBe(first.pid)
    await driver.stop(f.id)
    await eventually(async () => (isAlive(second) ? undefined : true), 5000, 'forwarder stopped with the machine')
    expect(fs.existsSync(sock)).toBe(false)
    await driver.start(f)
    expect(isAlive(runRecord(f.id).forwarder)).toBe(true)
    await driver.remove(f.id)
  })

  test('stop removes the machine cgroup', async () => {
    const c = await up(spec('cg'))
    const dirs = runRecord(c.id).cgroup.dirs
    expect(dirs.length).toBeGreaterThan(0)
    for (const d of dirs) expect(fs.existsSync(d)).toBe(true)
    await driver.stop(c.id)
    for (const d of dirs) expect(fs.existsSync(d)).toBe(false)
    await driver.remove(c.id)
  })

  test('a machine whose command ends is stopped; start boots it again with its disk', async () => {
    const c = await up(spec('cmd', { command: 'echo booted >>/root/boots; sleep 0.3' }))
    await eventually(async () => ((await driver.status(c.id)).state === 'stopped' ? true : undefined), 5000, 'command ended')
    await driver.start(c)
    expect((await driver.status(c.id)).state).toBe('running')
    expect((await sh(driver, c.id, 'cat /root/boots')).stdout).toBe('booted\nbooted\n')
    await driver.remove(c.id)
  })

  test('remove never follows a symlink out of the machine', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-outside-'))
    hostLeftovers.push(outside)
    fs.writeFileSync(path.join(outside, 'precious'), 'keep me')
    const c = await up(spec('link'))
    await sh(driver, c.id, `ln -s ${outside} /root/escape; ln -s / /root/slash`)
    await driver.remove(c.id)
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('keep me')
    expect(fs.existsSync(path.join(dataDir, 'machines', c.id))).toBe(false)
  })

  test('machine state is root-only on the host (setuid files a machine makes are unreachable)', () => {
    expect(fs.statSync(path.join(dataDir, 'machines')).mode & 0o777).toBe(0o700)
  })

  test('user-controlled env is applied inside the machine, never to host-side helpers', () => {
    const argv = execArgv({
      nsenter: '/usr/bin/nsenter', sh: '/bin/sh', initPid: 42, procsFiles: [], hostname: 'h', defaultCwd: '/root',
      machineEnv: { LD_PRELOAD: '/tmp/evil.so' },
    }, { argv: ['id'], env: { BASH_ENV: '/tmp/x' } })
    const envI = argv.lastIndexOf('-i')
    expect(argv.slice(envI - 2, envI + 1)).toEqual(['/dev/.boxd/busybox', 'env', '-i'])
    expect(argv.indexOf('LD_PRELOAD=/tmp/evil.so')).toBeGreaterThan(envI)
    expect(argv.indexOf('BASH_ENV=/tmp/x')).toBeGreaterThan(envI)
  })

  describe('images', () => {
    const tarball = (withSh: boolean) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-rootfs-'))
      hostLeftovers.push(root)
      fs.mkdirSync(path.join(root, 'bin'))
      fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'))
      fs.chmodSync(path.join(root, 'bin/busybox'), 0o755)
      for (const a of withSh ? ['sh', 'cat', 'echo', 'hostname', 'ls', 'sleep', 'id'] : ['cat']) fs.symlinkSync('busybox', path.join(root, 'bin', a))
      const file = `${root}.tar`
      hostLeftovers.push(file)
      execFileSync('tar', ['-C', root, '-cf', file, '.'])
      return file
    }

    test('importImage rejects bad and reserved names, and images without /bin/sh', async () => {
      for (const bad of ['../x', 'Upper', 'host', '', 'a/b', '.hidden']) {
        await expect(importImage(dataDir, bad, tarball(true))).rejects.toBeInstanceOf(DriverError)
      }
      await expect(importImage(dataDir, 'nosh', tarball(false))).rejects.toThrow(/no \/bin\/sh/)
      expect(fs.existsSync(path.join(dataDir, 'images', 'nosh'))).toBe(false)
    })

    test('a boot that fails reports the console log and leaves nothing running', async () => {
      const img = await importImage(dataDir, 'doomed', tarball(true))
      const d = spec('doomed', { image: 'doomed' })
      await driver.create(d)
      fs.rmSync(path.dirname(img.path), { recursive: true })       // the lower layer vanished
      const err = await driver.start(d).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(DriverError)
      expect((err as Error).message).toMatch(/failed to boot: .*mount/s)
      expect(await driver.status(d.id)).toMatchObject({ state: 'stopped' })
      expect(fs.existsSync(path.join(dataDir, 'machines', d.id, 'run.json'))).toBe(false)
      const leftovers = execFileSync('sh', ['-c', `find /sys/fs/cgroup -maxdepth 6 -type d -name '${d.id}' 2>/dev/null || true`]).toString()
      expect(leftovers).toBe('')
      await driver.remove(d.id)
    })

    test('an imported rootfs boots as a machine; the image itself stays untouched', async () => {
      const img = await importImage(dataDir, 'bb', tarball(true))
      expect(await listImages(dataDir)).toEqual(['host', 'bb'])
      await expect(importImage(dataDir, 'bb', tarball(true))).rejects.toMatchObject({ reason: 'exists' })
      const b = await up(spec('img', { image: 'bb' }))
      const r = await sh(driver, b.id, 'hostname; ls /bin | wc -l; echo new >/bin/added; cat /bin/added; test -e /usr/bin/dpkg && echo HOST-USR')
      expect(r.stdout).toBe(`${b.name}\n8\nnew\n`)
      expect(fs.existsSync(path.join(img.path, 'bin/added'))).toBe(false)
      await sh(driver, b.id, 'mkdir -p /root && echo mine >/root/f; echo junk >/junk')
      await driver.stop(b.id)
      await driver.rebuild(b)
      await driver.start(b)
      expect((await sh(driver, b.id, 'cat /root/f; test -e /junk && echo JUNK; echo end')).stdout).toBe('mine\nend\n')
      await driver.remove(b.id)
    })
  })
})
