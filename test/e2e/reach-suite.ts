// Reaching machines end to end, one suite for every driver: a real `boxd` server (startServer:
// SSH + HTTPS doors, port forwards) on loopback, real machines, busybox servers inside them,
// keys from the real ssh-keygen, tokens from the real boxdtoken, requests from the real curl.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../../src/app.js'
import type { Driver } from '../../src/machines/driver.js'
import type { HttpDoor } from '../../src/http/server.js'
import { startServer, type RunningServer } from '../../src/server.js'
import { addUserWithKey, boxdtoken, curl, sshKeygen, type CurlResult } from '../helpers/http.js'
import { eventually, sh } from '../machines/helpers.js'
import { wsConnect } from '../proxy/helpers.js'

export interface ReachFixture {
  name: 'sandbox' | 'docker'
  /** Why this driver cannot run here (printed), or undefined. */
  skip?: string
  make(dataDir: string): Driver
  image: string
  /** A busybox binary inside the driver's machines. */
  busybox: string
  portRange: { from: number; to: number }
}

const DOMAIN = 'boxd.localhost'
const VERBS = ['new', 'ls', 'port open', 'port close', 'port ls', 'share show', 'share port', 'share set-public', 'share set-private', 'share add', 'share remove', 'browser']

/** The machine's servers: busybox httpd + a CGI echo on 8000 and 3000, a WebSocket echo on 8001, a TCP echo on 7000. */
function machineSetup(bb: string): string {
  const cgi = (port: number) => [
    `mkdir -p /tmp/w${port}/cgi-bin`,
    `printf '%s\\n' '#!/bin/sh' "printf 'Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n'" 'echo served-by=${port}' "env | grep -E '^(HTTP_|REQUEST_URI=|REQUEST_METHOD=)' | sort" >/tmp/w${port}/cgi-bin/echo`,
    `chmod +x /tmp/w${port}/cgi-bin/echo`,
    `nohup ${bb} httpd -f -p 127.0.0.1:${port} -h /tmp/w${port} >/dev/null 2>&1 &`,
  ]
  // A real RFC 6455 handshake (Sec-WebSocket-Accept computed with busybox), then the raw bytes echoed.
  const ws = [
    '#!/bin/sh',
    'CR=$(printf "\\r"); key=; email=-',
    'while IFS= read -r line; do line=${line%"$CR"}; [ -z "$line" ] && break',
    '  case "$line" in [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=${line#*: } ;; [Xx]-[Bb]oxd-[Ee]mail:*) email=${line#*: } ;; esac',
    'done',
    `accept=$(printf "%s" "\${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | ${bb} sha1sum | ${bb} cut -d" " -f1 | ${bb} xxd -r -p | ${bb} base64)`,
    'printf "HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: %s\\r\\nX-Seen-Email: %s\\r\\n\\r\\n" "$accept" "$email"',
    `exec ${bb} cat`,
  ]
  return [
    ...cgi(8000), ...cgi(3000),
    `${bb} dd if=/dev/zero of=/tmp/w8000/big bs=1048576 count=16 2>/dev/null`,
    `cat >/tmp/ws.sh <<'EOF'\n${ws.join('\n')}\nEOF`,
    'chmod +x /tmp/ws.sh',
    `nohup ${bb} nc -ll -p 8001 -e /tmp/ws.sh >/dev/null 2>&1 &`,
    `nohup ${bb} nc -ll -p 7000 -e ${bb} cat >/dev/null 2>&1 &`,
  ].join('\n')
}

/** CGI env lines → a map. */
const cgiEnv = (r: CurlResult) => Object.fromEntries(r.body.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))

function tcpRoundTrip(port: number, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    let out = ''
    const t = setTimeout(() => s.destroy(), 10_000)
    s.on('connect', () => s.end(msg))
    s.on('data', (d) => { out += d.toString() })
    s.on('error', (e: NodeJS.ErrnoException) => { out = `error:${e.code}` })
    s.on('close', () => { clearTimeout(t); resolve(out) })
  })
}

export function reachSuite(f: ReachFixture): void {
  if (f.skip) console.log(`[reach ${f.name}] skipping: ${f.skip}`)

  describe.skipIf(!!f.skip)(`reaching machines on the ${f.name} driver`, () => {
    let dir: string
    let server: RunningServer
    let https: number
    let alice: string
    let bob: string
    const WEB = `web.${DOMAIN}`
    const tokens = new Map<string, string>()
    const token = (key: string, domain: string, payload = '{}') => {
      const k = `${key} ${domain} ${payload}`
      if (!tokens.has(k)) tokens.set(k, boxdtoken(payload, key, domain))
      return tokens.get(k)!
    }
    const api = (key: string) => token(key, DOMAIN, JSON.stringify({ cmds: VERBS }))
    /** One verb over POST /exec, as the given key's user. */
    const exec = async (key: string, line: string) => {
      const r = await curl(`https://127.0.0.1:${https}/exec`, { token: api(key), data: line })
      if (r.status !== 200) throw new Error(`${line}: ${r.status} ${r.body}`)
      return r.json
    }
    /** curl to a machine hostname (resolved to loopback). */
    const web = (host: string, path: string, args: string[] = []) =>
      curl(`https://${host}:${https}${path}`, { args: ['--resolve', `${host}:${https}:127.0.0.1`, ...args] })
    const xAuth = (t: string) => ['-H', `X-Boxd-Authorization: Bearer ${t}`]

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `boxd-reach-${f.name}-`))
      const config = resolveConfig({
        dataDir: dir, domain: DOMAIN, listen: '127.0.0.1', sshPort: 0, httpsPort: 0,
        driver: f.name, defaultImage: f.image, portRange: f.portRange,
      })
      server = await startServer(config, { driver: f.make(dir), log: pino({ level: 'silent' }) })
      https = (server.doors.find((d) => (d as HttpDoor).ports?.https) as HttpDoor).ports.https!
      alice = sshKeygen(dir, 'ed25519', 'alice')
      bob = sshKeygen(dir, 'ed25519', 'bob')
      addUserWithKey(server.app, 'alice@example.com', alice)
      addUserWithKey(server.app, 'bob@example.com', bob)
      await exec(alice, 'new --name=web')
      const row = server.app.services.store.machines.byName('web')!
      const r = await sh(server.app.services.machines.driver, row.id, machineSetup(f.busybox))
      if (r.code !== 0) throw new Error(`machine setup failed: ${r.stderr}`)
      await eventually(async () => ((await web(WEB, '/cgi-bin/echo', xAuth(token(alice, WEB)))).status === 200 ? true : undefined), 15_000, 'httpd in the machine')
    }, 180_000)

    afterAll(async () => {
      await server?.app.services.machines.remove(server.app.services.store.machines.byName('web')!).catch(() => {})
      await server?.close()
      if (dir) rmSync(dir, { recursive: true, force: true })
    }, 60_000)

    it('private: no credentials → 401 JSON for curl, an HTML page for a browser', async () => {
      const r = await web(WEB, '/cgi-bin/echo')
      expect([r.status, r.json?.code]).toEqual([401, 'unauthenticated'])
      const page = await web(WEB, '/', ['-H', 'Accept: text/html'])
      expect(page.status).toBe(401)
      expect(page.body).toContain('browser web')
    })

    it('machine token as X-Boxd-Authorization → 200; the machine sees path, identity and forwarding headers, not the token', async () => {
      const r = await web(WEB, '/cgi-bin/echo/a/b?c=1', xAuth(token(alice, WEB)))
      expect(r.status).toBe(200)
      const env = cgiEnv(r)
      expect(env['served-by']).toBe('8000')
      expect(env.REQUEST_URI).toBe('/cgi-bin/echo/a/b?c=1')
      expect(env.HTTP_X_BOXD_EMAIL).toBe('alice@example.com')
      expect(env.HTTP_X_BOXD_USER_ID).toMatch(/^usr_/)
      expect(env.HTTP_X_FORWARDED_PROTO).toBe('https')
      expect(env.HTTP_X_FORWARDED_FOR).toBe('127.0.0.1')
      expect(env.HTTP_X_FORWARDED_HOST).toBe(`${WEB}:${https}`)
      expect(env.HTTP_X_BOXD_AUTHORIZATION).toBeUndefined()
    })

    it('machine token as Authorization: Bearer and as the HTTP Basic password → 200, never forwarded', async () => {
      const bearer = await web(WEB, '/cgi-bin/echo', ['-H', `Authorization: Bearer ${token(alice, WEB)}`])
      expect(bearer.status).toBe(200)
      expect(cgiEnv(bearer).HTTP_AUTHORIZATION).toBeUndefined()
      const basic = await web(WEB, '/cgi-bin/echo', ['-u', `git:${token(alice, WEB)}`])
      expect(basic.status).toBe(200)
      expect(cgiEnv(basic).HTTP_X_BOXD_EMAIL).toBe('alice@example.com')
    })

    it('the README recipe works as written (boxdtoken with the machine hostname as domain)', async () => {
      const t = boxdtoken('{}', alice, WEB)
      expect((await web(WEB, '/cgi-bin/echo', ['-H', `X-Boxd-Authorization: Bearer ${t}`])).status).toBe(200)
    })

    it('rejects an API token at the machine proxy, and a machine token at /exec', async () => {
      expect((await web(WEB, '/cgi-bin/echo', xAuth(api(alice)))).status).toBe(401)
      const r = await curl(`https://127.0.0.1:${https}/exec`, { token: token(alice, WEB), data: 'ls' })
      expect(r.status).toBe(401)
    })

    it('another user\'s token → not_found; once shared → 200 as that user; unshared → not_found again', async () => {
      const t = token(bob, WEB)
      expect((await web(WEB, '/cgi-bin/echo', xAuth(t))).status).toBe(404)
      await exec(alice, 'share add web bob@example.com')
      const r = await web(WEB, '/cgi-bin/echo', xAuth(t))
      expect(r.status).toBe(200)
      expect(cgiEnv(r).HTTP_X_BOXD_EMAIL).toBe('bob@example.com')
      await exec(alice, 'share remove web bob@example.com')
      expect((await web(WEB, '/cgi-bin/echo', xAuth(t))).status).toBe(404)
    })

    it('a spoofed X-Boxd-Email never reaches the machine', async () => {
      const authed = cgiEnv(await web(WEB, '/cgi-bin/echo', ['-H', 'X-Boxd-Email: ceo@example.com', ...xAuth(token(alice, WEB))]))
      expect(authed.HTTP_X_BOXD_EMAIL).toBe('alice@example.com')
      await exec(alice, 'share set-public web')
      try {
        const anon = cgiEnv(await web(WEB, '/cgi-bin/echo', ['-H', 'X-Boxd-Email: ceo@example.com', '-H', 'X-Boxd-User-Id: usr_x']))
        expect(anon.HTTP_X_BOXD_EMAIL).toBeUndefined()
        expect(anon.HTTP_X_BOXD_USER_ID).toBeUndefined()
      } finally {
        await exec(alice, 'share set-private web')
      }
    })

    it('public → 200 without credentials; private again → 401', async () => {
      expect((await exec(alice, 'share set-public web')).public).toBe(true)
      expect((await web(WEB, '/cgi-bin/echo')).status).toBe(200)
      await exec(alice, 'share set-private web')
      expect((await web(WEB, '/cgi-bin/echo')).status).toBe(401)
    })

    it('per-port hostnames: web-3000 reaches port 3000, with its own public flag', async () => {
      const P = `web-3000.${DOMAIN}`
      expect((await web(P, '/cgi-bin/echo')).status).toBe(401)
      const r = await web(P, '/cgi-bin/echo', xAuth(token(alice, WEB)))
      expect(cgiEnv(r)['served-by']).toBe('3000')
      await exec(alice, 'share set-public web --port 3000')
      expect(cgiEnv(await web(P, '/cgi-bin/echo'))['served-by']).toBe('3000')
      expect((await web(WEB, '/cgi-bin/echo')).status).toBe(401)
      await exec(alice, 'share set-private web --port 3000')
    })

    it('a 16 MiB response streams through the machine\'s forwarder intact', async () => {
      const r = await web(WEB, '/big', xAuth(token(alice, WEB)))
      expect(r.status).toBe(200)
      expect(r.body.length).toBe(16 << 20)
    })

    it('browser sign-in: magic link → Secure HttpOnly host-only cookie → 200 as the user; logout ends it', async () => {
      const link = await exec(alice, 'browser web')
      const u = new URL(link.url)
      const login = await web(WEB, `${u.pathname}${u.search}`)
      expect(login.status).toBe(303)
      const set = login.headers['set-cookie']
      expect(set).toMatch(/^__Host-boxd-session=[\w-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax; Secure$/)
      const cookie = set.split(';')[0]
      const page = await web(WEB, '/cgi-bin/echo', ['-H', `Cookie: ${cookie}`])
      expect(page.status).toBe(200)
      expect(cgiEnv(page).HTTP_X_BOXD_EMAIL).toBe('alice@example.com')
      expect(cgiEnv(page).HTTP_COOKIE).toBeUndefined()
      expect((await web(WEB, `${u.pathname}${u.search}`)).status).toBe(401) // one-time
      await web(WEB, '/__boxd/logout', ['-H', `Cookie: ${cookie}`])
      expect((await web(WEB, '/cgi-bin/echo', ['-H', `Cookie: ${cookie}`])).status).toBe(401)
    })

    it('WebSocket echo through the proxy (real handshake inside the machine), identity on the handshake', async () => {
      const ws = await wsConnect(https, `web-8001.${DOMAIN}`, { 'X-Boxd-Authorization': `Bearer ${token(alice, WEB)}`, 'X-Boxd-Email': 'ceo@example.com' }, { tls: true })
      try {
        expect(ws.head).toMatch(/^HTTP\/1.1 101/)
        const accept = createHash('sha1').update('dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
        expect(ws.head).toContain(accept)
        expect(ws.head.toLowerCase()).toContain('x-seen-email: alice@example.com')
        expect(await ws.echo('hello machine')).toBe('hello machine')
      } finally {
        ws.socket.destroy()
      }
    })

    it('port open forwards a host port; --to is enforced; port close really closes', async () => {
      const open = await exec(alice, 'port open web 7000')
      expect(open.state).toBe('listening')
      expect(await eventually(async () => (await tcpRoundTrip(open.host_port, 'ping')) || undefined, 10_000, 'nc in the machine')).toBe('ping')
      await exec(alice, 'port close web 7000')
      expect(await tcpRoundTrip(open.host_port, 'x')).toBe('error:ECONNREFUSED')
      const fenced = await exec(alice, 'port open web 7000 --to 10.0.0.0/8')
      const got = await tcpRoundTrip(fenced.host_port, 'let me in')
      expect(got === '' || got.startsWith('error:')).toBe(true)
      await exec(alice, 'port close web 7000')
    })

    it('another user cannot see or touch the machine\'s ports or shares', async () => {
      for (const line of ['port open web 7000', 'share show web', 'share set-public web']) {
        const r = await curl(`https://127.0.0.1:${https}/exec`, { token: api(bob), data: line })
        expect([r.status, r.json?.code], line).toEqual([404, 'not_found'])
      }
    })
  })
}
