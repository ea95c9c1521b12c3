// Cgroup placement and limit files, over fake cgroup trees (regular files stand in for cgroupfs),
// so the v2 path is covered on a v1 host and vice versa. The real kernel is exercised by the
// driver suites ("limits are applied in the machine's cgroup").
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { CgroupHost, procsFiles, readUsage } from '../../src/machines/cgroups.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'boxd-cgroups-test-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const mountLine = (id: number, root: string, mp: string, fstype: string, opts: string) =>
  `${id} 1 0:${id} ${root} ${mp} rw,relatime - ${fstype} ${fstype} ${opts}`

describe('cgroups', () => {
  test('v1: machines nest under the cgroup boxd runs in, per hierarchy; limits are written and read back', () => {
    const base = path.join(tmp, 'v1')
    for (const d of ['cpu,cpuacct/svc', 'memory/svc/inner', 'pids']) fs.mkdirSync(path.join(base, d), { recursive: true })
    const host = new CgroupHost({
      mountinfo: [
        mountLine(30, '/', `${base}/cpu,cpuacct`, 'cgroup', 'rw,cpu,cpuacct'),
        mountLine(31, '/', `${base}/memory`, 'cgroup', 'rw,memory'),
        mountLine(32, '/', `${base}/pids`, 'cgroup', 'rw,pids'),
      ].join('\n'),
      selfCgroup: '3:cpu,cpuacct:/svc\n4:memory:/svc/inner\n5:pids:/\n',
    })
    expect(host.mode).toBe('v1')
    const cg = host.create('m1', { cpu: 1.5, memoryBytes: 64 << 20, pids: 100 })
    expect(cg.dirs.sort()).toEqual([
      `${base}/cpu,cpuacct/svc/boxd/m1`, `${base}/memory/svc/inner/boxd/m1`, `${base}/pids/boxd/m1`,
    ].sort())
    expect(fs.readFileSync(`${base}/cpu,cpuacct/svc/boxd/m1/cpu.cfs_quota_us`, 'utf8')).toBe('150000')
    expect(fs.readFileSync(`${base}/memory/svc/inner/boxd/m1/memory.limit_in_bytes`, 'utf8')).toBe(String(64 << 20))
    expect(readUsage(cg).limits).toEqual({ cgroup: 'v1', cpu: 1.5, memoryBytes: 64 << 20, pids: 100, note: undefined })
    expect(procsFiles(cg)).toContain(`${base}/pids/boxd/m1/cgroup.procs`)
  })

  test('v2: machines go to <root>/boxd with controllers enabled; cpu.max/memory.max/pids.max', () => {
    const root = path.join(tmp, 'v2')
    fs.mkdirSync(path.join(root, 'boxd'), { recursive: true })
    for (const d of [root, path.join(root, 'boxd')]) fs.writeFileSync(path.join(d, 'cgroup.controllers'), 'cpuset cpu io memory pids\n')
    const host = new CgroupHost({ mountinfo: mountLine(40, '/', root, 'cgroup2', 'rw'), selfCgroup: '0::/user.slice\n', cgroupRoot: root })
    expect(host.mode).toBe('v2')
    const cg = host.create('m2', { cpu: 0.5, memoryBytes: 1 << 30, pids: 64 })
    expect(cg).toMatchObject({ mode: 'v2', dirs: [`${root}/boxd/m2`] })
    expect(fs.readFileSync(`${root}/boxd/cgroup.subtree_control`, 'utf8')).toBe('+cpu +memory +pids')
    expect(fs.readFileSync(`${root}/boxd/m2/cpu.max`, 'utf8')).toBe('50000 100000')
    expect(readUsage(cg).limits).toEqual({ cgroup: 'v2', cpu: 0.5, memoryBytes: 1 << 30, pids: 64, note: undefined })
  })

  test('no cgroup hierarchy: mode none with a note, never pretend limits', () => {
    const host = new CgroupHost({ mountinfo: mountLine(22, '/', '/proc', 'proc', 'rw'), selfCgroup: '' })
    expect(host.mode).toBe('none')
    const cg = host.create('m3', { memoryBytes: 1 << 20 })
    expect(readUsage(cg).limits.cgroup).toBe('none')
    expect(readUsage(cg).limits.memoryBytes).toBeUndefined()
    expect(readUsage(cg).limits.note).toMatch(/cgroup/)
  })
})
