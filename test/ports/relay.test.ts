// relay(): both directions of a forwarded connection or tunnel, with the end of a stream kept in
// order behind its data.
import { Duplex } from 'node:stream'
import { pipeline } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { relay } from '../../src/ports/relay.js'

/** A "client socket" whose writes complete slowly, so bytes queue in front of it. */
function slowClient() {
  const got: Buffer[] = []
  let finished = false
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) { got.push(chunk); setTimeout(cb, 2) },
    final(cb) { finished = true; cb() },
  })
  return { d, got, done: () => finished }
}

/** A "machine socket" that sends chunks, ends, then closes at once without finishing its own
 * writable side — what a socket without allowHalfOpen does when its peer has gone. */
function machineThatSendsAndCloses(chunks: number) {
  const d = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
  setImmediate(() => {
    for (let i = 0; i < chunks; i++) d.push(Buffer.alloc(1024, i))
    d.push(null)
  })
  d.once('end', () => setImmediate(() => d.destroy()))
  return d
}

const settle = () => new Promise((r) => setTimeout(r, 400))

describe('relay', () => {
  it('a machine that ends and closes first never loses the bytes queued for a slow client', async () => {
    const client = slowClient()
    relay(client.d, machineThatSendsAndCloses(64))
    await settle()
    expect(Buffer.concat(client.got).length).toBe(64 * 1024)
    expect(client.done()).toBe(true) // the end arrived, after the data
  })

  it('(why not pipeline both ways: the same machine loses the client\'s queued bytes)', async () => {
    const client = slowClient()
    const machine = machineThatSendsAndCloses(64)
    const kill = (err?: Error | null) => { if (err) { client.d.destroy(); machine.destroy() } }
    pipeline(client.d, machine, kill)
    pipeline(machine, client.d, kill)
    await settle()
    expect(Buffer.concat(client.got).length).toBeLessThan(64 * 1024)
  })

  it('an error on either side tears down both', async () => {
    const a = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
    const b = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
    relay(a, b)
    b.destroy(new Error('reset'))
    await settle()
    expect([a.destroyed, b.destroyed]).toEqual([true, true])
  })

  it('one side destroyed without an end: the other is dropped too (nobody to deliver to)', async () => {
    const a = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
    const b = new Duplex({ read() {}, write(_c, _e, cb) { cb() } })
    relay(a, b)
    a.destroy()
    await settle()
    expect(b.destroyed).toBe(true)
  })
})
