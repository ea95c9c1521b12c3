// The machine HTTPS proxy: the HTTP door hands it every request whose Host is `<m>.<domain>` or
// `<m>-<port>.<domain>` (attach.ts). Each request is authorised here, then piped — body and
// response streamed, never buffered whole — into the machine's 127.0.0.1:PORT through the
// driver's per-machine forwarder. WebSocket (and other) upgrades are tunnelled after the
// machine answers 101.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { pipeline, type Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { globMatch } from '../auth/permissions.js'
import { CommandError, notFound, unauthenticated } from '../errors.js'
import type { MachineService } from '../machines/service.js'
import type { Clock, Config } from '../services.js'
import type { MachineRow, Store } from '../store/index.js'
import { presentedCredential } from './auth.js'
import { readCookie, requestHeaders, responseHeaders, type Identity } from './headers.js'
import { parseMachineHost, type ProxyTarget } from './host.js'
import { relay } from '../ports/relay.js'
import { errorReply, type ProxyReply } from './pages.js'
import { BrowserLogins, cookieName, LOGIN_PATH, LOGOUT_PATH } from './sessions.js'
import type { ShareService } from './shares.js'
import { MachineTokens } from './tokens.js'
import { webBase } from './urls.js'

const OWN_COOKIES = [cookieName(true), cookieName(false)]
// Bound on reaching the machine's port (the forwarder normally answers in microseconds).
const CONNECT_TIMEOUT_MS = 10_000

export interface ProxyDeps {
  store: Store
  clock: Clock
  config: Config
  log: Logger
  machines: MachineService
  shares: ShareService
}

type Decision =
  | { ok: true; row: MachineRow; port: number; identity?: Identity; dropAuthorization: boolean }
  | { ok: false; err: CommandError; status?: number; clearCookie?: boolean }

export class MachineProxy {
  readonly tokens: MachineTokens
  readonly logins: BrowserLogins

  constructor(private readonly deps: ProxyDeps) {
    this.tokens = new MachineTokens(deps.store, deps.clock, deps.config.domain)
    this.logins = new BrowserLogins(deps.store, deps.clock, deps.config)
  }

  /** The machine a Host header names, or undefined: the request is the API's. */
  route(host: string | undefined): ProxyTarget | undefined {
    return parseMachineHost(host, this.deps.config.domain)
  }

  /** Answers one request for a machine host. Never throws. */
  async handle(req: IncomingMessage, res: ServerResponse, target: ProxyTarget): Promise<void> {
    const secure = isSecure(req)
    try {
      const path = originPath(req.url)
      if (path === LOGIN_PATH || path.startsWith(`${LOGIN_PATH}?`)) return this.login(req, res, target, secure)
      if (path === LOGOUT_PATH || path.startsWith(`${LOGOUT_PATH}?`)) return this.logout(req, res, secure)
      const d = this.decide(req, target, secure)
      if (!d.ok) return this.reply(res, this.errorPage(req, target, d), d.clearCookie ? [clearCookie(secure)] : [])
      const up = await this.connect(d.row, d.port)
      if ('err' in up) return this.reply(res, this.errorPage(req, target, up))
      this.forward(req, res, target, up.stream, d, secure)
    } catch (e) {
      this.deps.log.error({ err: e, host: target.hostname }, 'proxy internal error')
      if (!res.headersSent) this.reply(res, this.errorPage(req, target, { err: new CommandError('internal', 'internal error') }))
      else res.destroy()
    }
  }

  /** An HTTP upgrade (WebSocket) for a machine host: authorised like a request, then tunnelled. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget): Promise<void> {
    socket.on('error', () => {})
    const secure = isSecure(req)
    try {
      const d = this.decide(req, target, secure)
      if (!d.ok) return writeRaw(socket, this.errorPage(req, target, d))
      const up = await this.connect(d.row, d.port)
      if ('err' in up) return writeRaw(socket, this.errorPage(req, target, up))
      this.tunnel(req, socket, head, up.stream, d, secure)
    } catch (e) {
      this.deps.log.error({ err: e, host: target.hostname }, 'proxy upgrade internal error')
      socket.destroy()
    }
  }

  // ---- the security decision ----

  private decide(req: IncomingMessage, target: ProxyTarget, secure: boolean): Decision {
    const { store, shares, clock } = this.deps
    const row = store.machines.byName(target.machine)
    const port = target.port ?? row?.proxy_port ?? 0
    const isPublic = row !== undefined && shares.isPublic(row, port)
    let presented
    try {
      presented = presentedCredential(req)
    } catch (e) {
      return { ok: false, err: e as CommandError }
    }
    const dropAuthorization = presented.authorizationIsOurs
    if (presented.kind === 'token') {
      let userId: string
      let ctx: unknown
      let globs: string[] | undefined
      try {
        // Namespace v0@<machine>.<domain>: API tokens and other machines' tokens fail here.
        const v = this.tokens.verify(target.machine, presented.token)
        userId = v.userId
        ctx = v.claims.ctx
        globs = v.claims.machines
      } catch (e) {
        // An explicit credential that does not verify is refused, even on a public port: the
        // caller asked to be someone and is not.
        if (e instanceof CommandError) return { ok: false, err: e }
        throw e
      }
      const user = store.users.get(userId)!
      // Security gate: a verified token still reaches only machines its signer owns or is
      // shared on, within the token's `machines` caveat (`cmds` does not apply to a proxy).
      const inCaveat = globs === undefined || globs.some((g) => globMatch(g, target.machine))
      if (row && inCaveat && shares.mayReach(row, user)) {
        return { ok: true, row, port, dropAuthorization, identity: { userId: user.id, email: user.email, ctx } }
      }
      if (row && isPublic) return { ok: true, row, port, dropAuthorization }
      // Not yours: not found, never forbidden (and no hint that it exists).
      return { ok: false, err: notFound(`no machine ${target.hostname} for this token`) }
    }
    let clear = false
    const cookie = readCookie(req, cookieName(secure))
    if (cookie !== undefined) {
      const userId = row ? this.logins.session(cookie, row.id) : undefined
      const user = userId ? store.users.get(userId) : undefined
      // Re-checked on every request: a removed share or a disabled account ends the session.
      if (row && user && store.users.isActive(user, clock.now()) && shares.mayReach(row, user)) {
        return { ok: true, row, port, dropAuthorization, identity: { userId: user.id, email: user.email } }
      }
      clear = true
    }
    if (row && isPublic) return { ok: true, row, port, dropAuthorization }
    // Private (or no such machine: the same answer, so names cannot be probed).
    return { ok: false, err: unauthenticated(`${target.hostname} is private`, 'send a machine token (X-Boxd-Authorization: Bearer …) or sign in with `browser <machine>`'), clearCookie: clear }
  }

  // ---- browser sign-in ----

  private login(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, secure: boolean): void {
    const row = this.deps.store.machines.byName(target.machine)
    const secret = new URLSearchParams(originPath(req.url).split('?')[1] ?? '').get('t')
    const s = row ? this.logins.redeem(secret, row.id) : undefined
    if (!s) {
      const err = unauthenticated('this sign-in link is not valid: it was used already, has expired, or is for another machine', `get a new one with \`browser ${target.machine}\``)
      return this.reply(res, this.errorPage(req, target, { err }))
    }
    // 303 to "/" drops the secret from the address bar and history; no-referrer keeps it out of
    // the next request's Referer. The cookie is host-only (no Domain), HttpOnly, and Secure on HTTPS.
    const cookie = `${cookieName(secure)}=${s.secret}; Path=/; Max-Age=${s.maxAgeS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
    res.writeHead(303, { Location: '/', 'Set-Cookie': cookie, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'Content-Length': '0' })
    res.end()
  }

  private logout(req: IncomingMessage, res: ServerResponse, secure: boolean): void {
    this.logins.logout(readCookie(req, cookieName(secure)))
    const html = /\btext\/html\b/i.test(req.headers.accept ?? '')
    const body = html ? '<!doctype html><meta charset="utf-8"><title>Signed out</title><p>Signed out.</p>\n' : '{"signed_out":true}\n'
    res.writeHead(200, { 'Set-Cookie': clearCookie(secure), 'Cache-Control': 'no-store', 'Content-Type': html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) })
    res.end(body)
  }

  // ---- into the machine ----

  private async connect(row: MachineRow, port: number): Promise<{ stream: Duplex } | { err: CommandError; status: number }> {
    const cur = this.deps.store.machines.get(row.id)
    if (!cur || cur.status !== 'running') {
      return { status: 503, err: new CommandError('conflict', `machine ${row.name} is ${cur?.status ?? 'gone'}`, { hint: cur?.status === 'stopped' ? `start it with \`start ${row.name}\`` : undefined }) }
    }
    let timer: NodeJS.Timeout | undefined
    try {
      const stream = await Promise.race([
        this.deps.machines.driver.connect(row.id, port),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timed out')), CONNECT_TIMEOUT_MS) }),
      ])
      return { stream }
    } catch (e) {
      this.deps.log.info({ machine: row.name, port, reason: (e as Error).message }, 'proxy could not reach the machine')
      return { status: 502, err: new CommandError('failed', `nothing answered on port ${port} inside ${row.name}`, { hint: `start a server on 127.0.0.1:${port} or 0.0.0.0:${port} in the machine, or point the proxy elsewhere with \`share port ${row.name} <port>\`` }) }
    } finally {
      clearTimeout(timer)
    }
  }

  private forward(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, up: Duplex, d: Extract<Decision, { ok: true }>, secure: boolean): void {
    const headers = requestHeaders(req, { secure, identity: d.identity, dropAuthorization: d.dropAuthorization, dropCookies: OWN_COOKIES, upgrade: false })
    // createConnection with no agent: one connection per request, closed after the response.
    const upReq = httpRequest({ createConnection: () => up as Socket, method: req.method, path: originPath(req.url), headers })
    upReq.on('response', (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, responseHeaders(upRes.headers, OWN_COOKIES))
      // pipeline: the client's pace sets the machine's (backpressure); either side failing ends both.
      pipeline(upRes, res, (err) => { if (err) { up.destroy(); res.destroy() } })
    })
    upReq.on('error', (e) => {
      up.destroy()
      if (res.headersSent) return void res.destroy()
      this.deps.log.info({ machine: d.row.name, port: d.port, reason: e.message }, 'proxied request failed')
      const err = new CommandError('failed', `the server on port ${d.port} inside ${d.row.name} closed the connection without answering`)
      this.reply(res, this.errorPage(req, target, { err, status: 502 }))
    })
    // The client went away mid-response: stop the machine side too.
    res.once('close', () => { if (!res.writableFinished) upReq.destroy() })
    pipeline(req, upReq, (err) => { if (err) upReq.destroy() })
  }

  private tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, up: Duplex, d: Extract<Decision, { ok: true }>, secure: boolean): void {
    const headers = requestHeaders(req, { secure, identity: d.identity, dropAuthorization: d.dropAuthorization, dropCookies: OWN_COOKIES, upgrade: true })
    const upReq = httpRequest({ createConnection: () => up as Socket, method: req.method, path: originPath(req.url), headers })
    const fail = () => { up.destroy(); socket.destroy() }
    upReq.on('upgrade', (upRes, upSocket, upHead) => {
      // The machine switched protocols: from here on the bytes are not HTTP, and both directions
      // are piped as they are (with backpressure), until either side closes.
      socket.write(rawHead(101, upRes.statusMessage ?? 'Switching Protocols', { ...responseHeaders(upRes.headers, OWN_COOKIES), connection: 'Upgrade', upgrade: upRes.headers.upgrade ?? '' }))
      if (upHead.length) socket.write(upHead)
      if (head.length) upSocket.write(head)
      // Both directions plus the server's own listeners pass node's leak-warning default of 10.
      socket.setMaxListeners(Math.max(socket.getMaxListeners(), 20))
      relay(socket, upSocket)
    })
    // The machine declined the upgrade: relay its answer, then close — the connection never
    // becomes a raw tunnel in which later requests would bypass this proxy's checks.
    upReq.on('response', (upRes) => {
      const h = responseHeaders(upRes.headers, OWN_COOKIES)
      delete h['content-length']
      socket.write(rawHead(upRes.statusCode ?? 502, upRes.statusMessage ?? '', { ...h, connection: 'close' }))
      pipeline(upRes, socket, (err) => { if (err) fail() })
    })
    upReq.on('error', fail)
    socket.once('close', () => upReq.destroy())
    upReq.end()
  }

  // ---- replies ----

  private errorPage(req: IncomingMessage, target: ProxyTarget, d: { err: CommandError; status?: number }): ProxyReply {
    const { config } = this.deps
    return errorReply(req, d.err, {
      hostname: target.hostname,
      machine: target.machine,
      url: `${webBase(config, target.hostname)}/`,
      sshHint: `ssh${config.sshPort === 22 ? '' : ` -p ${config.sshPort}`} ${config.domain}`,
      status: d.status,
    })
  }

  private reply(res: ServerResponse, r: ProxyReply, cookies: string[] = []): void {
    const headers: Record<string, string | string[]> = { ...r.headers, 'Content-Length': String(Buffer.byteLength(r.body)) }
    if (cookies.length) headers['Set-Cookie'] = cookies
    res.writeHead(r.status, headers)
    res.end(r.body)
  }
}

function isSecure(req: IncomingMessage): boolean {
  return (req.socket as Socket & { encrypted?: boolean }).encrypted === true
}

/** The request target in origin form ("/path?q"), also for absolute-form targets. Routing is by Host only. */
export function originPath(url: string | undefined): string {
  if (!url) return '/'
  if (url.startsWith('/')) return url
  try {
    const u = new URL(url)
    return `${u.pathname}${u.search}`
  } catch {
    return '/'
  }
}

function clearCookie(secure: boolean): string {
  return `${cookieName(secure)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
}

const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/

function rawHead(status: number, message: string, headers: Record<string, unknown>): string {
  let text = `HTTP/1.1 ${status} ${message.replace(/[\r\n]/g, '')}\r\n`
  for (const [k, v] of Object.entries(headers)) {
    for (const one of Array.isArray(v) ? v : [v]) {
      const s = String(one)
      if (HEADER_SAFE.test(s)) text += `${k}: ${s}\r\n`
    }
  }
  return `${text}\r\n`
}

function writeRaw(socket: Duplex, r: ProxyReply): void {
  socket.end(`${rawHead(r.status, r.status === 401 ? 'Unauthorized' : r.status === 404 ? 'Not Found' : 'Error', { ...r.headers, 'content-length': Buffer.byteLength(r.body), connection: 'close' })}${r.body}`)
}
