// One contract, every driver: the same suite runs over the sandbox and the Docker driver.
// The Docker variant skips (with the reason printed) only when no engine answers.
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { DriverError, type Driver, type MachineSpec } from '../../src/machines/driver.js'
import { SandboxDriver } from '../../src/machines/sandbox/index.js'
import { DockerDriver } from '../../src/machines/docker/index.js'
import { collect, eventually, roundTrip, run, sh, within } from './helpers.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 })

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const DOCKER_IMAGE = 'boxd-test:busybox'

interface Fixture {
  name: 'sandbox' | 'docker'
  skip?: string
  /** A fresh driver object over the same state (a new instance simulates a boxd restart). */
  make: () => Driver
  image: string
  /** A busybox binary inside every machine of this driver (nc, stty …). */
  busybox: string
  /** Host directory holding the driver's state (must stay invisible to machines). */
  stateDir: string
}

async function sandboxFixture(): Promise<Fixture> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-sandbox-test-'))
  const skip = process.getuid?.() === 0 ? undefined : 'sandbox driver tests need root'
  return { name: 'sandbox', skip, make: () => new SandboxDriver({ dataDir, stopGraceMs: 2000 }), image: 'host', busybox: '/dev/.boxd/busybox', stateDir: dataDir }
}

async function dockerFixture(): Promise<Fixture> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-docker-test-'))
  const make = () => new DockerDriver({ defaultImage: DOCKER_IMAGE, dataDir, stopTimeoutSec: 2 })
  let skip: string | undefined
  try {
    await within(new Docker().ping(), 3000, 'docker ping')
    execFileSync(path.join(repo, 'scripts/docker-test-image.sh'), { stdio: 'pipe' })
  } catch (e) {
    skip = `no usable Docker engine at /var/run/docker.sock (${(e as Error).message.split('\n')[0]})`
  }
  return { name: 'docker', skip, make, image: DOCKER_IMAGE, busybox: '/bin/busybox', stateDir: dataDir }
}

const fixtures = [await sandboxFixture(), await dockerFixture()]
for (const f of fixtures) if (f.skip) console.log(`[machines contract] skipping ${f.name}: ${f.skip}`)
// File-level, so the state dirs go even when a filter skips a whole driver block.
afterAll(() => { for (const f of fixtures) fs.rmSync(f.stateDir, { recursive: true, force: true }) })

describe.each(fixtures)('$name driver', (f) => {
  const driver = f.skip ? (undefined as unknown as Driver) : f.make()
  const run_ = crypto.randomBytes(3).toString('hex')
  const created: string[] = []
  const spec = (suffix: string, over: Partial<MachineSpec> = {}): MachineSpec => {
    const id = `t${run_}${suffix}`
    created.push(id)
    return { id, name: `m-${run_}-${suffix}`, image: f.image, env: {}, network: 'none', ...over }
  }
  const up = async (s: MachineSpec) => { await driver.create(s); await driver.start(s); return s }
  const hostMarkers: string[] = []
  let main: MachineSpec

  beforeAll(async () => {
    if (f.skip) return
    await driver.check()
    main = await up(spec('main', { env: { GREETING: 'hello from env' } }))
  })

  afterAll(async () => {
    if (f.skip) return
    for (const id of created) await driver.remove(id).catch(() => undefined)
    for (const m of hostMarkers) fs.rmSync(m, { force: true })
  })

  test.skipIf(!!f.skip)('exec: stdout and stderr stay separate, exit code and env come through', async () => {
    const r = await sh(driver, main.id, 'echo "out:$GREETING"; echo err >&2; exit 7')
    expect(r).toMatchObject({ code: 7, stdout: 'out:hello from env\n', stderr: 'err\n' })
  })

  test.skipIf(!!f.skip)('exec: stdin is streamed to the process', async () => {
    const r = await run(driver, main.id, ['cat'], { stdin: 'line one\nline two\n' })
    expect(r).toMatchObject({ code: 0, stdout: 'line one\nline two\n' })
  })

  test.skipIf(!!f.skip)('exec: cwd is honoured and a missing program fails with 126/127', async () => {
    expect((await run(driver, main.id, ['pwd'], { cwd: '/tmp' })).stdout).toBe('/tmp\n')
    const missing = await run(driver, main.id, ['/no/such/program'])
    expect([126, 127]).toContain(missing.code)
  })

  test.skipIf(!!f.skip)('exec: kill() ends a running process', async () => {
    const p = await driver.exec(main.id, { argv: ['sleep', '300'] })
    p.stdout.resume()
    p.stderr.resume()
    await new Promise((r) => setTimeout(r, 200))
    p.kill('SIGKILL')
    const exit = await within(p.exited, 10_000, 'killed exec to exit')
    expect(exit.code === 137 || exit.signal === 'SIGKILL').toBe(true)
  })

  test.skipIf(!!f.skip)('hostname is the machine name', async () => {
    expect((await run(driver, main.id, ['hostname'])).stdout.trim()).toBe(main.name)
  })

  test.skipIf(!!f.skip)('own pid namespace: few processes, pid 1 is an init', async () => {
    const r = await sh(driver, main.id, 'ls -d /proc/[0-9]* | wc -l; tr "\\0" " " </proc/1/cmdline')
    const [count, init] = r.stdout.split('\n')
    expect(Number(count)).toBeGreaterThan(0)
    expect(Number(count)).toBeLessThan(10)
    expect(init).toMatch(/init/)
  })

  test.skipIf(!!f.skip)('host files are invisible: /tmp, /root, the data dir and /work markers', async () => {
    const tag = crypto.randomBytes(6).toString('hex')
    const markers = [`/tmp/boxd-marker-${tag}`, `/root/boxd-marker-${tag}`, path.join(f.stateDir, `marker-${tag}`)]
    for (const m of markers) { fs.writeFileSync(m, 'secret'); hostMarkers.push(m) }
    const checks = [...markers, '/work', path.join(repo, 'package.json')].map((m) => `test -e '${m}' && echo "VISIBLE ${m}"`).join('; ')
    const r = await sh(driver, main.id, `${checks}; echo done`)
    expect(r.stdout).toBe('done\n')
    expect(fs.existsSync(markers[0])).toBe(true)   // the markers really exist on the host
  })

  test.skipIf(!!f.skip)('two machines cannot see each other\'s files or processes', async () => {
    const other = await up(spec('peer'))
    await sh(driver, main.id, 'echo a-secret >/root/only-main; nohup sleep 777 >/dev/null 2>&1 &')
    const r = await sh(driver, other.id, 'test -e /root/only-main && echo SEEN; cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " | grep -c "sleep 77[7]"; hostname')
    expect(r.stdout).toBe(`0\n${other.name}\n`)
    expect((await sh(driver, main.id, 'cat /root/only-main')).stdout).toBe('a-secret\n')
    await driver.remove(other.id)
  })

  test.skipIf(!!f.skip)('disk persists across stop and start', async () => {
    const m = await up(spec('persist'))
    await sh(driver, m.id, 'echo kept >/root/note; mkdir -p /srv/app && echo v1 >/srv/app/version')
    await driver.stop(m.id)
    expect((await driver.status(m.id)).state).toBe('stopped')
    await driver.start(m)
    expect((await sh(driver, m.id, 'cat /root/note /srv/app/version')).stdout).toBe('kept\nv1\n')
    await driver.remove(m.id)
  })

  test.skipIf(!!f.skip)('a machine outlives the driver object: a fresh instance finds and drives it', async () => {
    const before = await driver.status(main.id)
    const again = f.make()
    const after = await again.status(main.id)
    expect(after).toMatchObject({ state: 'running', pid: before.pid })
    expect(before.pid).toBeGreaterThan(0)
    expect((await run(again, main.id, ['hostname'])).stdout.trim()).toBe(main.name)
    expect(await again.list()).toContain(main.id)
  })

  test.skipIf(!!f.skip)('a background process survives the end of the exec that started it', async () => {
    await sh(driver, main.id, 'nohup sh -c \'echo $$ >/tmp/bg.pid; exec sleep 600\' >/dev/null 2>&1 &')
    const alive = await eventually(async () => {
      const r = await sh(driver, main.id, 'kill -0 "$(cat /tmp/bg.pid)" && echo alive')
      return r.stdout === 'alive\n' ? true : undefined
    }, 5000, 'background sleep alive after its exec ended')
    expect(alive).toBe(true)
  })

  test.skipIf(!!f.skip)('orphans are reaped by PID 1 (no zombies)', async () => {
    // The shell exits at once; its background child is reparented to the machine's PID 1.
    const r = await sh(driver, main.id, 'sleep 0.2 & echo $!')
    const orphan = r.stdout.trim()
    expect(orphan).toMatch(/^\d+$/)
    await eventually(async () => {
      const s = await sh(driver, main.id, `test -e /proc/${orphan} && echo present; grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l`)
      return s.stdout === '0\n' ? true : undefined
    }, 5000, 'orphan reaped')
  })

  test.skipIf(!!f.skip)('tty exec: a terminal of the requested size, resizable', async () => {
    const p = await driver.exec(main.id, { argv: ['/bin/sh', '-c', 'test -t 0 && echo IS-TTY; stty size; read x; stty size'], tty: { cols: 100, rows: 30, term: 'xterm-256color' } })
    let out = ''
    p.stdout.on('data', (c: Buffer) => { out += c.toString() })
    await eventually(async () => (out.includes('30 100') ? true : undefined), 10_000, `initial size in ${JSON.stringify(out)}`)
    p.resize(120, 40)
    await new Promise((r) => setTimeout(r, 100))
    p.stdin.write('\n')
    await eventually(async () => (out.includes('40 120') ? true : undefined), 10_000, `resized in ${JSON.stringify(out)}`)
    expect(out).toContain('IS-TTY')
    expect((await within(p.exited, 10_000, 'tty exit')).code).toBe(0)
  })

  test.skipIf(!!f.skip)('tty exec with empty argv starts a login shell', async () => {
    const p = await driver.exec(main.id, { argv: [], tty: { cols: 80, rows: 24, term: 'xterm' } })
    let out = ''
    p.stdout.on('data', (c: Buffer) => { out += c.toString() })
    p.stdin.write('echo "shell:$((6*7))"; exit 3\n')
    const exit = await within(p.exited, 10_000, 'login shell exit')
    expect(out).toContain('shell:42')
    expect(exit.code).toBe(3)
  })

  test.skipIf(!!f.skip)('connect() reaches a TCP server on the machine\'s loopback, both ways, with backpressure', async () => {
    await sh(driver, main.id, `nohup ${f.busybox} nc -ll -p 8080 -e /bin/cat >/dev/null 2>&1 &`)
    const small = await eventually(async () => roundTrip(await driver.connect(main.id, 8080), Buffer.from('ping\n')), 10_000, 'echo server up')
    expect(small.toString()).toBe('ping\n')
    const big = crypto.randomBytes(4 << 20)
    const back = await roundTrip(await driver.connect(main.id, 8080), big, 30_000)
    expect(back.length).toBe(big.length)
    expect(back.equals(big)).toBe(true)
  })

  test.skipIf(!!f.skip)('connect() to a port nobody listens on rejects cleanly', async () => {
    const err = await driver.connect(main.id, 8099).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(DriverError)
    expect((err as DriverError).reason).toBe('refused')
    expect((err as Error).message).toMatch(/8099/)
  })

  test.skipIf(!!f.skip)('limits are applied in the machine\'s cgroup', async () => {
    const m = await up(spec('limits', { memoryBytes: 64 << 20, pids: 100, cpu: 0.5 }))
    const st = await driver.status(m.id)
    expect(st.limits).toMatchObject({ memoryBytes: 64 << 20, pids: 100, cpu: 0.5 })
    expect(st.limits?.cgroup).not.toBe('none')
    // Read the limit the kernel enforces for the machine's init, straight from cgroupfs.
    const memLine = fs.readFileSync(`/proc/${st.pid}/cgroup`, 'utf8').split('\n').find((l) => /(^|:|,)memory(,|:)/.test(l) || l.startsWith('0::'))!
    const cgPath = memLine.split(':')[2]
    const v1 = `/sys/fs/cgroup/memory${cgPath}/memory.limit_in_bytes`
    const file = fs.existsSync(v1) ? v1 : `/sys/fs/cgroup${cgPath}/memory.max`
    expect(Number(fs.readFileSync(file, 'utf8'))).toBe(64 << 20)
    // And it bites: buffering one 200 MB line gets the process killed.
    const r = await sh(driver, m.id, 'head -c 200000000 /dev/zero | tail -n 1 >/dev/null; echo "status:$?"')
    expect(r.stdout).toMatch(/status:(137|1)\b/)
    await driver.remove(m.id)
  })

  test.skipIf(!!f.skip)('rebuild gives a fresh root from the image and keeps /root and /home', async () => {
    const m = await up(spec('rebuild'))
    await sh(driver, m.id, 'echo mine >/root/keep; mkdir -p /home/u && echo hi >/home/u/f; mkdir -p /opt/junk && echo x >/opt/junk/x')
    await driver.stop(m.id)
    await driver.rebuild(m)
    await driver.start(m)
    const r = await sh(driver, m.id, 'cat /root/keep /home/u/f; test -e /opt/junk/x && echo JUNK; echo end')
    expect(r.stdout).toBe('mine\nhi\nend\n')
    await driver.remove(m.id)
  })

  test.skipIf(!!f.skip)('rebuild refuses a running machine', async () => {
    const err = await driver.rebuild(main).then(() => undefined, (e: unknown) => e)
    expect((err as DriverError).reason).toBe('running')
  })

  test.skipIf(!!f.skip)('remove deletes the processes and the disk; it is idempotent', async () => {
    const m = await up(spec('gone'))
    await sh(driver, m.id, 'nohup sleep 900 >/dev/null 2>&1 &')
    const { pid } = await driver.status(m.id)
    expect(pid).toBeGreaterThan(0)
    await driver.remove(m.id)
    expect(await driver.status(m.id)).toEqual({ id: m.id, state: 'missing' })
    expect(fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')).toBe(false)
    expect(await driver.list()).not.toContain(m.id)
    await driver.remove(m.id)
    await expect(driver.exec(m.id, { argv: ['true'] })).rejects.toBeInstanceOf(DriverError)
  })

  test.skipIf(!!f.skip)('stop and start are idempotent', async () => {
    const m = await up(spec('idem'))
    await driver.start(m)
    const { pid } = await driver.status(m.id)
    await driver.start(m)
    expect((await driver.status(m.id)).pid).toBe(pid)
    await driver.stop(m.id)
    await driver.stop(m.id)
    expect((await driver.status(m.id)).state).toBe('stopped')
    await driver.remove(m.id)
  })

  test.skipIf(!!f.skip)('create refuses an existing id; list() reports machines', async () => {
    const again = { ...main }
    const err = await driver.create(again).then(() => undefined, (e: unknown) => e)
    expect((err as DriverError).reason).toBe('exists')
    expect(await driver.list()).toContain(main.id)
    await expect(driver.status('nope-not-here')).resolves.toEqual({ id: 'nope-not-here', state: 'missing' })
  })
})
