// Hostile command strings over real HTTP (issue 8's fuzz, for the HTTPS door): random lines —
// quotes, escapes, unicode, control and invalid UTF-8 bytes, huge and chunked bodies, shell
// metacharacters — POSTed to /exec on 127.0.0.1. Never a 500, never a crash; every reply is JSON
// with a documented code whose HTTP status is the documented one. Bounded in count and time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { commands } from '../../commands/index.js'
import { ERROR_CODES, httpStatus, type ErrorCode } from '../../src/errors.js'
import { addUserWithKey, boxdtoken, sshKeygen, startTestServer, type HttpTestServer } from '../helpers/http.js'

const N = 1_200
const CONCURRENCY = 8
const DEADLINE_MS = 90_000

function rng(seed: number) {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
}

const PIECES = [
  ...commands.map((c) => c.name), '--json', '--help', '-h', '--', '--name=', '--label', '--cmds', '--exp', 'never', '--machine',
  "'", '"', '\\', '$(id)', '`id`', '${HOME}', ';', '|', '&&', '>', '*', '~', '#', '%s%n', '../../etc/passwd', '\0', '\x01', '\x1b[2J',
  '\r', '\n', '\t', '\u202e', '𝕏', 'é', '﻿', 'web', 'a'.repeat(70), '-1', '0', '99999999999999999999', 'NaN', '{}', '__proto__',
  'constructor', '--__proto__=1', 'boxd0.aaa.bbb', 'boxd1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'tok_aaaaaaaaaaaaaaaa', 'SHA256:xx',
]

type Body = { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'chunked'; bytes: Uint8Array }

function hostileBody(rand: () => number): Body {
  const r = rand()
  if (r < 0.06) return { kind: 'bytes', bytes: Uint8Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)) }
  if (r < 0.09) return { kind: 'chunked', bytes: new TextEncoder().encode(`whoami ${'y'.repeat(Math.floor(rand() * 80_000))}`) }
  const words = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => {
    const w = rand()
    if (w < 0.7) return PIECES[Math.floor(rand() * PIECES.length)]
    if (w < 0.97) return String.fromCharCode(...Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 0x250)))
    return 'x'.repeat(Math.floor(rand() * 70_000)) // some over the 64 KiB body limit
  })
  // Half the lines start with a real verb, so the fuzz reaches flag parsing and runs.
  if (rand() < 0.5) words.unshift(commands[Math.floor(rand() * commands.length)].name)
  return { kind: 'text', text: words.join(rand() < 0.8 ? ' ' : '') }
}

let s: HttpTestServer
let tokens: string[]

beforeAll(async () => {
  s = await startTestServer({ rateLimits: { perMinute: 0, mutatingPerMinute: 0, perHour: 0 } })
  const key = sshKeygen(s.dir, 'ed25519', 'fuzz-k3y-unguessable')
  addUserWithKey(s.app, 'fuzz@example.com', key)
  // Read-only verbs plus the token verbs: the fuzz reaches real runs without creating machines.
  const safe = commands.filter((c) => !c.mutates).map((c) => c.name).concat(['token revoke', 'ssh-key rename'])
  tokens = [boxdtoken(JSON.stringify({ cmds: safe }), key), boxdtoken('{}', key), boxdtoken('{"cmds":[]}', key)]
})
afterAll(() => s.close())

describe('hostile command strings over real HTTP', () => {
  it(`${N} random bodies: never 500, every reply a documented code with its documented status`, async () => {
    const rand = rng(0x4774)
    const started = Date.now()
    const statuses: Record<number, number> = {}
    let sent = 0
    const failures: string[] = []
    async function one(): Promise<void> {
      const body = hostileBody(rand)
      const token = tokens[Math.floor(rand() * tokens.length)]
      const init: RequestInit & { duplex?: 'half' } = { method: 'POST', headers: { Authorization: `Bearer ${token}` } }
      if (body.kind === 'text') init.body = body.text
      else if (body.kind === 'bytes') init.body = body.bytes
      else {
        // No Content-Length: the door must count while reading.
        const bytes = body.bytes
        init.body = new ReadableStream({ start(c) { for (let i = 0; i < bytes.length; i += 8192) c.enqueue(bytes.subarray(i, i + 8192)); c.close() } })
        init.duplex = 'half'
      }
      const shown = body.kind === 'text' ? JSON.stringify(body.text.slice(0, 120)) : `${body.kind}(${body.bytes.length})`
      let res: Response
      try {
        res = await fetch(`${s.http}/exec`, { ...init, signal: AbortSignal.timeout(20_000) })
      } catch (e) {
        // The door may close the connection after a 413 while a chunked upload is still going.
        if (body.kind === 'chunked') return
        failures.push(`${shown}: transport error ${(e as Error).message}`)
        return
      }
      const text = await res.text()
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      let json: { error?: unknown; code?: ErrorCode; hint?: unknown }
      try {
        json = JSON.parse(text)
      } catch {
        failures.push(`${shown}: non-JSON reply ${res.status}`)
        return
      }
      if (res.status === 200) return
      if (!ERROR_CODES.includes(json.code as ErrorCode) || json.code === 'internal') failures.push(`${shown}: code ${String(json.code)}`)
      else if (httpStatus(json.code!) !== res.status) failures.push(`${shown}: ${json.code} with HTTP ${res.status}`)
      else if (typeof json.error !== 'string' || Object.keys(json).some((k) => !['error', 'code', 'hint'].includes(k))) failures.push(`${shown}: bad error body ${text.slice(0, 200)}`)
    }
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (sent < N && Date.now() - started < DEADLINE_MS) {
        sent++
        await one()
      }
    })
    await Promise.all(workers)
    expect(failures.slice(0, 10)).toEqual([])
    expect(sent).toBeGreaterThanOrEqual(N)
    expect(statuses[500]).toBeUndefined()
    // The fuzz reaches past the door: refusals of several kinds, and real runs.
    expect(Object.keys(statuses).length).toBeGreaterThanOrEqual(5)
    expect(statuses[200]).toBeGreaterThan(0)
    expect(statuses[413]).toBeGreaterThan(0)
  }, DEADLINE_MS + 30_000)
})
