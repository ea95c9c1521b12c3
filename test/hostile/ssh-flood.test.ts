// SSH flood: 200 unauthenticated connections held open against the real `boxd serve` SSH door,
// with its real defaults (64 unauthenticated connections, past that the oldest is dropped; 30 s
// login grace). Three kinds of attacker, each stalling at a different step: silent TCP, an SSH
// version line and then nothing (stuck in key exchange), and a full key exchange that never
// authenticates (ssh2 client whose auth handler never answers). A real user's `ssh host whoami`
// (OpenSSH client) must still answer within the login grace time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SSH_LIMIT_DEFAULTS } from '../../src/ssh/limits.js'
import { makeKey, waitFor, type KeyFiles } from '../helpers/ssh.js'
import { startServe, type ServeProcess } from '../helpers/serve.js'

const FLOOD = 200
const CAP = SSH_LIMIT_DEFAULTS.maxUnauthenticated
const GRACE_MS = SSH_LIMIT_DEFAULTS.loginGraceMs

type Kind = 'silent' | 'version-only' | 'kex-no-auth'

interface Attacker {
  kind: Kind
  /** Set when the server (not us) closed the connection. */
  closedAt?: number
  close(): void
}

function attack(port: number, kind: Kind, attackerKey: Buffer): Promise<Attacker> {
  return new Promise((resolveP, reject) => {
    if (kind === 'kex-no-auth') {
      const c = new ssh2.Client()
      const a: Attacker = { kind, close: () => c.end() }
      let ok = false
      c.on('error', (e) => { if (!ok) reject(e) })
      c.on('close', () => { a.closedAt ??= Date.now() })
      // Key exchange done, the auth service accepted: now stall, never offering a method.
      c.on('banner', () => {})
      c.connect({
        host: '127.0.0.1', port, username: 'intruder', privateKey: attackerKey, readyTimeout: 10 * GRACE_MS, keepaliveInterval: 0,
        authHandler: () => { if (!ok) { ok = true; resolveP(a) } },
      })
      return
    }
    const s: Socket = connect(port, '127.0.0.1', () => {
      if (kind === 'version-only') s.write('SSH-2.0-flood_1.0\r\n')
      resolveP(a)
    })
    const a: Attacker = { kind, close: () => s.destroy() }
    s.resume() // read the server's version line and KEXINIT, so a close from the server is seen
    s.on('error', () => {})
    s.once('error', reject)
    s.on('close', () => { a.closedAt ??= Date.now() })
  })
}

describe('ssh flood (real binary, default admission limits)', () => {
  let dir: string
  let server: ServeProcess
  let user: KeyFiles
  let attackerKey: Buffer
  const attackers: Attacker[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'boxd-ssh-flood-'))
    user = makeKey(dir, 'ed25519', 'user')
    attackerKey = readFileSync(makeKey(dir, 'ed25519', 'attacker').path) // not registered
    server = await startServe({ dataDir: join(dir, 'data'), admin: { key: user, email: 'user@example.com' } })
  })
  afterAll(async () => {
    for (const a of attackers) a.close()
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`${FLOOD} unauthenticated connections held open: a real user's \`ssh host whoami\` still answers within the ${GRACE_MS / 1000} s login grace`, async () => {
    const whoami = async () => {
      const t0 = performance.now()
      const r = await server.ssh(user, 'whoami --json', { timeoutMs: GRACE_MS })
      const ms = performance.now() - t0
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).email).toBe('user@example.com')
      return ms
    }
    const calm = [await whoami(), await whoami(), await whoami()].sort((a, b) => a - b)[1]

    // The flood, 20 at a time in a fixed mix: 50% silent, 25% version-only, 25% kex-no-auth.
    const kinds: Kind[] = ['silent', 'version-only', 'silent', 'kex-no-auth']
    const t0 = Date.now()
    for (let i = 0; i < FLOOD; i += 20) {
      attackers.push(...await Promise.all(Array.from({ length: 20 }, (_, j) => attack(server.sshPort, kinds[(i + j) % 4], attackerKey))))
    }
    const open = () => attackers.filter((a) => a.closedAt === undefined)
    // The cap holds at the real default: all but CAP of them are dropped (the oldest first)...
    await waitFor(() => open().length <= CAP, `the server to drop all but ${CAP} of ${FLOOD}`, 20_000)
    const held = open().length
    const byKind = (l: Attacker[]) => Object.fromEntries(kinds.map((k) => [k, l.filter((a) => a.kind === k).length]))
    // ...and no more: the door is full of parked connections when the user arrives.
    expect(held).toBeGreaterThanOrEqual(CAP - 4)
    expect(Date.now() - t0).toBeLessThan(GRACE_MS) // dropped by the cap, not by the grace timer

    const flooded = await whoami()
    const heldDuringLogin = open().length
    console.log(`[ssh-flood] ${FLOOD} unauthenticated (${JSON.stringify(byKind(attackers))}); server held ${held} (cap ${CAP}; ${JSON.stringify(byKind(open()))}), `
      + `${heldDuringLogin} still parked after the login; ssh whoami: ${flooded.toFixed(0)} ms under flood vs ${calm.toFixed(0)} ms calm (grace ${GRACE_MS} ms)`)
    expect(flooded).toBeLessThan(GRACE_MS)
    expect(heldDuringLogin).toBeGreaterThanOrEqual(CAP - 5)
    expect(server.child.exitCode).toBeNull()
  }, 90_000)
})
