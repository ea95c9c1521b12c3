// The admission gate on real loopback sockets.
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionGate, connectionId } from '../../src/ssh/gate.js'

let server: Server | undefined
const clients: Socket[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy()
  server?.close()
})

async function serve(gate: ConnectionGate, accepted: Socket[]): Promise<number> {
  server = createServer((s) => { accepted.push(s); s.on('error', () => {}); gate.admit(s) })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return (server.address() as { port: number }).port
}

async function dial(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  clients.push(s)
  await new Promise((r) => s.once('connect', r))
  return s
}

const until = async (fn: () => boolean) => {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 10))
  return fn()
}

describe('ConnectionGate', () => {
  it('past the cap, the oldest unauthenticated connection is the one dropped', async () => {
    const gate = new ConnectionGate({ maxUnauthenticated: 3, loginGraceMs: 60_000 })
    const accepted: Socket[] = []
    const port = await serve(gate, accepted)
    for (let i = 0; i < 5; i++) await dial(port)
    expect(await until(() => accepted.length === 5)).toBe(true)
    expect(gate.unauthenticated).toBe(3)
    expect(accepted.map((s) => s.destroyed)).toEqual([true, true, false, false, false])
  })

  it('an authenticated connection leaves the cap and the grace timer', async () => {
    const gate = new ConnectionGate({ maxUnauthenticated: 1, loginGraceMs: 100 })
    const accepted: Socket[] = []
    const port = await serve(gate, accepted)
    await dial(port)
    expect(await until(() => accepted.length === 1)).toBe(true)
    gate.authenticated(connectionId(accepted[0])!)
    await dial(port)
    expect(await until(() => accepted.length === 2)).toBe(true)
    await new Promise((r) => setTimeout(r, 250))
    expect(accepted[0].destroyed).toBe(false) // authenticated: kept
    expect(accepted[1].destroyed).toBe(true) // grace time passed
  })
})
