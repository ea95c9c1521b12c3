// The CLI side of the API, through the real binary (dist/, built by `npm test`): `boxd token mint`
// with a key file (ssh-keygen) and through a real ssh-agent, and `boxd exec --url`, which must
// print and exit exactly as `ssh host '<command>'` would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseToken } from '../../src/auth/token.js'
import { addUserWithKey, curl, REPO, sshKeygen, startTestServer, type HttpTestServer } from '../helpers/http.js'

const bin = join(REPO, 'dist/cli.js')
let s: HttpTestServer
const keys = { ed25519: '', rsa: '', ecdsa: '' }
let agent: ChildProcess | undefined
let agentSock: string

function boxd(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  // Async: the server under test runs in this process and must keep answering.
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, SSH_AUTH_SOCK: '', BOXD_DOMAIN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { err += c })
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }) })
  })
}

beforeAll(async () => {
  if (!existsSync(bin)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does)')
  s = await startTestServer({ https: true })
  for (const t of ['ed25519', 'rsa', 'ecdsa'] as const) keys[t] = sshKeygen(s.dir, t)
  addUserWithKey(s.app, 'alice@example.com', keys.ed25519)
  addUserWithKey(s.app, 'bob@example.com', keys.rsa)
  addUserWithKey(s.app, 'carol@example.com', keys.ecdsa)
  // A real ssh-agent holding all three keys (keys that "live only in the agent").
  agentSock = join(s.dir, 'agent.sock')
  agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' })
  for (let i = 0; i < 50 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 50))
  for (const k of Object.values(keys)) {
    const r = spawnSync('ssh-add', ['-q', k], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`ssh-add: ${r.stderr}`)
  }
})
afterAll(async () => {
  agent?.kill()
  await s?.close()
})

describe('boxd token mint', () => {
  it('--key signs with ssh-keygen; the token works with curl and says what the flags said', async () => {
    const r = await boxd(['token', 'mint', '--key', keys.ed25519, '--cmds', 'whoami,ssh-key list', '--exp', '10m', '--ctx', '{"job":7}', '--machine', 'web-*'])
    expect(r.code, r.err).toBe(0)
    const token = r.out.trim()
    expect(r.out).toBe(`${token}\n`) // stdout is the token and nothing else
    const { claims } = parseToken(token)
    expect(claims.cmds).toEqual(['whoami', 'ssh-key list'])
    expect(claims.ctx).toEqual({ job: 7 })
    expect(claims.machines).toEqual(['web-*'])
    expect(claims.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(590)
    const res = await curl(`${s.https}/exec`, { token, data: 'whoami' })
    expect(res.status).toBe(200)
    expect(res.json.email).toBe('alice@example.com')
  })

  it.each(['ed25519', 'rsa', 'ecdsa'] as const)('--agent signs through ssh-agent with the %s key', async (type) => {
    const r = await boxd(['token', 'mint', '--agent', '--key', `${keys[type]}.pub`, '--cmds', 'whoami'], { SSH_AUTH_SOCK: agentSock })
    expect(r.code, r.err).toBe(0)
    const res = await curl(`${s.https}/exec`, { token: r.out.trim(), data: 'whoami' })
    expect(res.status, res.body).toBe(200)
    expect(res.json.email).toBe({ ed25519: 'alice', rsa: 'bob', ecdsa: 'carol' }[type] + '@example.com')
  })

  it('--agent without SSH_AUTH_SOCK → a usage error (exit 2)', async () => {
    const r = await boxd(['token', 'mint', '--agent'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/SSH_AUTH_SOCK/)
    expect(r.out).toBe('')
  })

  it('--domain changes the namespace: a token for another domain is refused here', async () => {
    const r = await boxd(['token', 'mint', '--key', keys.ed25519, '--domain', 'other.example.com'])
    const res = await curl(`${s.https}/exec`, { token: r.out.trim(), data: 'whoami' })
    expect(res.status).toBe(401)
  })

  it('--exp never / --nbf in the future / bad --exp', async () => {
    const never = parseToken((await boxd(['token', 'mint', '--key', keys.ed25519, '--exp', 'never'])).out.trim()).claims
    expect(never.exp).toBeUndefined()
    const later = (await boxd(['token', 'mint', '--key', keys.ed25519, '--nbf', '1h'])).out.trim()
    expect((await curl(`${s.https}/exec`, { token: later, data: 'whoami' })).status).toBe(401)
    const bad = await boxd(['token', 'mint', '--key', keys.ed25519, '--exp', 'soon'])
    expect(bad.code).toBe(2)
  })
})

describe('boxd exec', () => {
  const url = () => s.http

  it('prints the verb\'s human output and exits 0, like ssh', async () => {
    const r = await boxd(['exec', '--url', url(), '--key', keys.ed25519, 'whoami'])
    expect(r.code, r.err).toBe(0)
    expect(r.out.split('\n')[0]).toBe('alice@example.com (user)')
    expect(r.err).toBe('')
  })

  it('--json (in the command) prints the JSON', async () => {
    const r = await boxd(['exec', '--url', url(), '--key', keys.ed25519, 'whoami', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out).email).toBe('alice@example.com')
  })

  it.each([
    ['nosuchverb', 5, /unknown command/],
    ['whoami --bogus', 2, /unknown flag --bogus/],
    ["whoami 'x", 2, /unbalanced/],
    ['ssh-key rename nope other', 6, /no key/],
  ])('%j exits %i with the error on stderr', async (line, code, re) => {
    const r = await boxd(['exec', '--url', url(), '--key', keys.ed25519, line])
    expect(r.code).toBe(code)
    expect(r.err).toMatch(re)
    expect(r.out).toBe('')
  })

  it('mints a token for exactly the one verb it runs', async () => {
    // ssh-key list is not something a whoami token could do; exec asks for exactly what it runs.
    const r = await boxd(['exec', '--url', url(), '--key', keys.ed25519, 'ssh-key', 'list', '--json'])
    expect(r.code, r.err).toBe(0)
    expect(JSON.parse(r.out).ssh_keys).toHaveLength(1)
  })

  it('over HTTPS: refuses the self-signed certificate by default, accepts --cacert or --insecure', async () => {
    const noTrust = await boxd(['exec', '--url', s.https!, '--key', keys.ed25519, 'whoami'])
    expect(noTrust.code).toBe(255)
    expect(noTrust.err).toMatch(/cannot reach/)
    const cert = join(s.dir, 'tls', 'cert.pem')
    expect(readFileSync(cert, 'utf8')).toMatch(/BEGIN CERTIFICATE/)
    expect((await boxd(['exec', '--url', s.https!, '--cacert', cert, '--key', keys.ed25519, 'whoami'])).code).toBe(0)
    expect((await boxd(['exec', '--url', s.https!, '--insecure', '--agent', 'whoami'], { SSH_AUTH_SOCK: agentSock })).code).toBe(0)
  })

  it('an unreachable server → exit 255, like ssh', async () => {
    const r = await boxd(['exec', '--url', 'http://127.0.0.1:1', '--key', keys.ed25519, 'whoami'])
    expect(r.code).toBe(255)
  })
})
