// Command fuzz through the dispatcher: hostile strings never produce `internal`, never throw, and
// every reply carries a documented code with its documented exit/HTTP status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { ERROR_CODES, exitStatus, httpStatus } from '../../src/errors.js'
import { addUser, makeApp, principalFor, type TestApp } from '../helpers/app.js'
import type { User } from '../../src/store/index.js'

const N = 10_000
const DEADLINE_MS = 60_000

// Deterministic PRNG so a failure reproduces from its seed.
function rng(seed: number) {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
}

const PIECES = [
  ...commands.map((c) => c.name), '--json', '--help', '-h', '--', '--name=', '--name', '--no-json', '--tag', '-d', '--env', 'A=B',
  "'", '"', '\\', '\\\\', '$(id)', '`id`', '${HOME}', ';', '|', '&&', '>', '<', '*', '?', '~', '#', '!', '%s%n', '../../etc/passwd',
  '\0', '\x01', '\x1b[2J', '\r', '\n', '\t', '\u202e', '𝕏', 'é', '\ud800', '﻿', 'web', 'Web', 'a'.repeat(70), '-1', '0', '99999999999999999999',
  '1e3', 'NaN', 'null', '{}', '[]', '{"cmds":[]}', 'boxd0.aaa.bbb', '__proto__', 'constructor', '--__proto__=1', '--constructor', 'SHA256:xx',
]

describe('command fuzz', () => {
  let app: TestApp
  let user: User
  beforeAll(() => { app = makeApp(); user = addUser(app, 'fuzz@example.com').user; addUser(app, 'admin@example.com', 'admin') })
  afterAll(() => app.cleanup())

  it(`${N} random command strings: never internal, always a documented code`, async () => {
    const rand = rng(0xb0cd)
    const started = Date.now()
    const codes: Record<string, number> = {}
    let n = 0
    for (; n < N && Date.now() - started < DEADLINE_MS; n++) {
      const words = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => {
        const r = rand()
        if (r < 0.7) return PIECES[Math.floor(rand() * PIECES.length)]
        if (r < 0.95) return String.fromCharCode(...Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 0x250)))
        return 'x'.repeat(Math.floor(rand() * 70_000)) // huge args, some over the 64 KiB line limit
      })
      const line = words.join(rand() < 0.8 ? ' ' : '')
      const principal = rand() < 0.5 ? principalFor(user) : principalFor(user, 'token', { token: { id: 't', claims: rand() < 0.5 ? {} : { cmds: ['ls', 'stat', 'rm'], machines: ['a*'] } } })
      const o = await app.dispatcher.dispatch({ line, principal, door: rand() < 0.5 ? 'ssh' : 'http', forceJson: rand() < 0.5 })
      const code = o.error?.code ?? 'ok'
      codes[code] = (codes[code] ?? 0) + 1
      if (o.error) {
        expect(o.error.code, `line ${JSON.stringify(line.slice(0, 200))}: ${o.error.message}`).not.toBe('internal')
        expect(ERROR_CODES).toContain(o.error.code)
        expect(o.exit).toBe(exitStatus(o.error.code))
        expect(o.http).toBe(httpStatus(o.error.code))
        expect(o.body).toEqual(o.error.toJSON())
      } else {
        expect(o.exit).toBe(0)
      }
    }
    expect(n).toBeGreaterThanOrEqual(N)
    // The fuzz must reach past the tokenizer: several distinct outcomes, including successes.
    expect(Object.keys(codes).length).toBeGreaterThanOrEqual(5)
    expect(codes.ok ?? 0).toBeGreaterThan(0)
  }, DEADLINE_MS + 30_000)
})
