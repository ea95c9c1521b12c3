// Shared helpers for the machine driver tests: bounded waits and run-to-completion exec.
import type { Duplex } from 'node:stream'
import type { Driver, ExecOptions, ExecProcess } from '../../src/machines/driver.js'

export interface Ran {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

/** Rejects after `ms` with `what` in the message: every wait in these tests is bounded. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    p.then((v) => { clearTimeout(t); resolve(v) }, (e) => { clearTimeout(t); reject(e) })
  })
}

/** Collects a process's output until it exits (stdin: the given text, then EOF). */
export async function collect(p: ExecProcess, stdin = '', ms = 20_000): Promise<Ran> {
  let stdout = ''
  let stderr = ''
  p.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  p.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const outDone = new Promise<void>((r) => p.stdout.on('end', () => r()))
  const errDone = new Promise<void>((r) => p.stderr.on('end', () => r()))
  p.stdin.end(stdin)
  const exit = await within(p.exited, ms, 'process exit')
  await within(Promise.all([outDone, errDone]), 5000, 'output streams to end')
  return { ...exit, stdout, stderr }
}

export async function run(driver: Driver, id: string, argv: string[], opts: Partial<ExecOptions> & { stdin?: string } = {}): Promise<Ran> {
  const { stdin, ...rest } = opts
  return collect(await driver.exec(id, { argv, ...rest }), stdin)
}

/** `sh -c script` inside the machine. */
export const sh = (driver: Driver, id: string, script: string, stdin?: string) => run(driver, id, ['/bin/sh', '-c', script], { stdin })

/** Polls `fn` until it returns a value (not undefined), bounded. */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Writes `data` to a duplex, half-closes, and reads everything back. */
export async function roundTrip(stream: Duplex, data: Buffer, ms = 20_000): Promise<Buffer> {
  const chunks: Buffer[] = []
  const done = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
  stream.end(data)
  try {
    return await within(done, ms, 'round trip through connect()')
  } finally {
    stream.destroy()
  }
}
