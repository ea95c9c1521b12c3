// An in-memory Driver for unit tests of the machine service and verbs (one layer, no kernel).
// The real drivers are tested against the same contract in test/machines/.
import { PassThrough } from 'node:stream'
import type { Driver, DriverStatus, ExecProcess, MachineSpec } from '../../src/machines/driver.js'

export class FakeDriver implements Driver {
  readonly name = 'sandbox' as const
  readonly machines = new Map<string, { spec: MachineSpec; running: boolean; files: Map<string, string> }>()
  failNext: Partial<Record<'create' | 'start' | 'stop' | 'remove', string>> = {}
  checkError?: string
  calls: string[] = []

  private maybeFail(op: 'create' | 'start' | 'stop' | 'remove') {
    this.calls.push(op)
    const msg = this.failNext[op]
    if (msg) { delete this.failNext[op]; throw new Error(msg) }
  }
  async check() { if (this.checkError) throw new Error(this.checkError) }
  async create(spec: MachineSpec) { this.maybeFail('create'); if (!this.machines.has(spec.id)) this.machines.set(spec.id, { spec, running: false, files: new Map() }) }
  async start(spec: MachineSpec) { this.maybeFail('start'); const m = this.machines.get(spec.id); if (!m) throw new Error('no such machine'); m.running = true; m.spec = spec }
  async stop(id: string) { this.maybeFail('stop'); const m = this.machines.get(id); if (m) m.running = false }
  async remove(id: string) { this.maybeFail('remove'); this.machines.delete(id) }
  async rebuild(spec: MachineSpec) { const m = this.machines.get(spec.id); if (m) for (const k of [...m.files.keys()]) if (!k.startsWith('/root/') && !k.startsWith('/home/')) m.files.delete(k) }
  async status(id: string): Promise<DriverStatus> {
    const m = this.machines.get(id)
    return { id, state: !m ? 'missing' : m.running ? 'running' : 'stopped', limits: { cgroup: 'none', note: 'fake driver' } }
  }
  async exec(): Promise<ExecProcess> {
    const stdout = new PassThrough(), stderr = new PassThrough(), stdin = new PassThrough()
    stdout.end('fake\n'); stderr.end()
    return { stdin, stdout, stderr, resize() {}, kill() {}, exited: Promise.resolve({ code: 0, signal: null }) }
  }
  async connect(): Promise<never> { throw new Error('nothing listens') }
  async list() { return [...this.machines.keys()] }
}
