// The header rewrite between a client and a machine. The machine must be able to trust every
// X-Boxd-* and X-Forwarded-* header it receives, so the client's versions never get through.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'

/** Hop-by-hop (RFC 9110 §7.6.1) plus Expect, which our server has already answered. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'expect'])
/** Set by the proxy alone; a client's copy would let it claim another address or scheme. */
const PROXY_SET = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip'])

export interface Identity {
  userId: string
  email: string
  /** The token's signed ctx, when the request came with a token that has one. */
  ctx?: unknown
}

export interface RequestRewrite {
  secure: boolean
  identity?: Identity
  /** The Authorization header carried a boxd credential the proxy consumed: never forward it. */
  dropAuthorization: boolean
  /** Cookie names the proxy owns (the session cookie): never forwarded. */
  dropCookies: readonly string[]
  /** Keep Connection/Upgrade (WebSocket and other upgrades). */
  upgrade: boolean
}

export function requestHeaders(req: IncomingMessage, o: RequestRewrite): OutgoingHttpHeaders {
  const drop = connectionTokens(req.headers)
  const out: OutgoingHttpHeaders = {}
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]
    const lower = name.toLowerCase()
    let value = req.rawHeaders[i + 1]
    // Security gate: every client-sent X-Boxd-* goes (spoofed identity, and X-Boxd-Authorization,
    // the preferred way to present a machine token, which the machine never sees).
    if (lower.startsWith('x-boxd-') || PROXY_SET.has(lower)) continue
    if ((HOP_BY_HOP.has(lower) || drop.has(lower)) && !(o.upgrade && (lower === 'connection' || lower === 'upgrade'))) continue
    if (lower === 'authorization' && o.dropAuthorization) continue
    if (lower === 'cookie') {
      value = withoutCookies(value, o.dropCookies)
      if (value === '') continue
    }
    const prev = out[lower]
    out[lower] = prev === undefined ? value : lower === 'cookie' ? `${String(prev)}; ${value}` : [...(Array.isArray(prev) ? prev : [String(prev)]), value]
  }
  // Body framing is re-declared, never copied blindly: a chunked body stays chunked, so no body
  // byte can ever be read by the machine as the start of another request.
  if (!o.upgrade && req.headers['transfer-encoding'] !== undefined) {
    out['transfer-encoding'] = 'chunked'
    delete out['content-length']
  }
  out['x-forwarded-for'] = clientAddress(req)
  out['x-forwarded-proto'] = o.secure ? 'https' : 'http'
  if (req.headers.host !== undefined) out['x-forwarded-host'] = req.headers.host
  if (o.identity) {
    out['x-boxd-user-id'] = o.identity.userId
    out['x-boxd-email'] = o.identity.email
    if (o.identity.ctx !== undefined) out['x-boxd-token-ctx'] = asciiJson(o.identity.ctx)
  }
  return out
}

/** Response headers from the machine, minus hop-by-hop ones and any attempt to set our cookie. */
export function responseHeaders(headers: IncomingHttpHeaders, ownCookies: readonly string[]): OutgoingHttpHeaders {
  const drop = connectionTokens(headers)
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name)) continue
    if (name === 'set-cookie') {
      // A machine could otherwise plant a session of its choosing in a visitor's browser.
      const kept = (value as string[]).filter((c) => !ownCookies.includes(c.slice(0, c.indexOf('=')).trim()))
      if (kept.length) out[name] = kept
      continue
    }
    out[name] = value
  }
  return out
}

export function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? ''
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

/** One cookie's value from the request (if sent twice, the last). */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie
  if (!header) return undefined
  let found: string | undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) found = part.slice(eq + 1).trim()
  }
  return found
}

function withoutCookies(header: string, names: readonly string[]): string {
  if (names.length === 0) return header
  return header.split(';').filter((part) => {
    const eq = part.indexOf('=')
    return !names.includes((eq < 0 ? part : part.slice(0, eq)).trim())
  }).map((p) => p.trim()).filter(Boolean).join('; ')
}

function connectionTokens(headers: IncomingHttpHeaders): Set<string> {
  const c = headers.connection
  const text = Array.isArray(c) ? c.join(',') : c ?? ''
  // Host is never hop-by-hop, whatever a client lists.
  return new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t && t !== 'host'))
}

/** JSON with every non-ASCII character escaped: valid JSON, and a valid header value. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
