// A real app on a real temp SQLite file, with a controllable clock and a silent logger.
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import { createUser } from '../../src/auth/accounts.js'
import type { Principal } from '../../src/auth/principal.js'
import type { DispatchRequest, Outcome } from '../../src/registry/dispatch.js'
import type { Clock, Config } from '../../src/services.js'
import type { Driver } from '../../src/machines/driver.js'
import { FakeDriver } from './fake-driver.js'
import type { User } from '../../src/store/index.js'

export class FakeClock implements Clock {
  constructor(public t = new Date('2026-11-23T12:00:00.000Z')) {}
  now() { return new Date(this.t) }
  advance(ms: number) { this.t = new Date(this.t.getTime() + ms) }
}

export interface TestApp extends App {
  dir: string
  clock: FakeClock
  cleanup(): void
}

export function makeApp(opts: { driver?: Driver; config?: Partial<Config> } = {}): TestApp {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-test-'))
  const clock = new FakeClock()
  const app = createApp(resolveConfig({ dataDir: dir, ...opts.config }), { clock, log: pino({ level: 'silent' }), driver: opts.driver ?? new FakeDriver() })
  return Object.assign(app, { dir, clock, cleanup: () => { app.close(); rmSync(dir, { recursive: true, force: true }) } })
}

function sshString(b: Buffer | string): Buffer {
  const v = typeof b === 'string' ? Buffer.from(b) : b
  const len = Buffer.alloc(4)
  len.writeUInt32BE(v.length)
  return Buffer.concat([len, v])
}

/** A fresh ed25519 public key line, as in a .pub file. */
export function newPublicKey(comment = 'test@host'): string {
  const { publicKey } = generateKeyPairSync('ed25519')
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  return `ssh-ed25519 ${Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]).toString('base64')} ${comment}`
}

export function addUser(app: App, email: string, role: 'admin' | 'user' = 'user', key = newPublicKey(email)): { user: User; key: string } {
  return { user: createUser(app.services.store, app.services.clock, { email, role, keyText: key }), key }
}

export function principalFor(user: User, via: Principal['via'] = 'local', extra: Partial<Principal> = {}): Principal {
  return { user: { id: user.id, email: user.email, role: user.role }, via, keyFingerprint: null, ...extra }
}

export function run(app: App, user: User, line: string, extra: Partial<DispatchRequest> = {}): Promise<Outcome> {
  return app.dispatcher.dispatch({ line, principal: principalFor(user), door: 'local', ...extra })
}
