// The HTTPS door as a hono app: POST /exec runs one command line through the same dispatcher as
// SSH, and GET /healthz says the process is up. The door is a thin adapter — bearer credential →
// Principal, body bytes → string, Outcome → status + JSON — and every gate runs in the order
// ARCHITECTURE.md fixes: 405 → 401 → 429 → 413 → dispatch (400/404/403/…) → 504 → 500.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HttpBindings } from '@hono/node-server'
import { Hono } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { rateKeyOf } from '../auth/ratelimit.js'
import type { Principal } from '../auth/principal.js'
import { CommandError, httpStatus } from '../errors.js'
import { bodyJson, type Dispatcher, type Outcome } from '../registry/dispatch.js'
import type { Services } from '../services.js'
import { MAX_BODY_BYTES, readBody } from './body.js'
import { mountOpsRoutes } from '../ops/http-routes.js'

export const EXEC_DEADLINE_MS = 30_000

export interface HttpDoorOptions {
  /** A command still running after this many ms is answered 504 (and its signal aborted). */
  deadlineMs?: number
  maxBodyBytes?: number
}

type Env = { Bindings: Partial<HttpBindings> }

const CONTENT_TYPE = 'application/json; charset=utf-8'

const utf8 = new TextDecoder('utf-8', { fatal: true })

export function createHttpApp(deps: { dispatcher: Dispatcher; services: Services }, opts: HttpDoorOptions = {}): Hono<Env> {
  const { dispatcher, services } = deps
  const { tokens, limiter, log } = services
  const deadlineMs = opts.deadlineMs ?? EXEC_DEADLINE_MS
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES
  const app = new Hono<Env>()

  // GET /healthz (503 when degraded) and GET /metrics (optionally --metrics-token): src/ops.
  mountOpsRoutes(app, services)

  app.all('/exec', async (c) => {
    const requestId = randomUUID()
    // 405 first: the command is the body, so no other method can carry one (and a GET that
    // acted would be a CSRF and link-preview hazard).
    if (c.req.method !== 'POST') {
      return reply(requestId, new CommandError('usage', `${c.req.method} is not allowed on /exec: use POST with the command as the body`, { headers: { Allow: 'POST' } }), 405)
    }

    // 401: nothing about the request is looked at before the caller is known.
    const incoming = c.env?.incoming as IncomingMessage | undefined
    let principal: Principal
    try {
      principal = authenticate(incoming ? rawHeader(incoming, 'authorization') : c.req.header('authorization'))
    } catch (e) {
      const err = asCommandError(e)
      // The reason is logged for the operator; the credential itself never is.
      log.info({ requestId, door: 'http', status: 401, reason: err.message }, 'exec refused')
      return reply(requestId, err)
    }
    principal.remoteAddress = incoming?.socket?.remoteAddress

    // 429 before the body is read: a caller over quota cannot make us read, decode or parse
    // anything. Mutating quota is charged later, once the verb is known (RateLimiter.beforeRun).
    let limitHeaders: Record<string, string>
    try {
      limitHeaders = limiter.take(rateKeyOf(principal)!, 'request').headers
    } catch (e) {
      services.metrics.rateLimitHit('http')
      return reply(requestId, asCommandError(e))
    }

    // 413 while reading: the limit holds for chunked bodies too.
    let line: string
    try {
      line = decodeLine(await readBody(c.req.raw, maxBody, incoming))
    } catch (e) {
      return reply(requestId, asCommandError(e), undefined, limitHeaders)
    }

    const outcome = await dispatchWithDeadline(line, principal, requestId, c.env?.outgoing as ServerResponse | undefined, c.req.raw)
    if (outcome === 'timeout') {
      return reply(requestId, new CommandError('timeout', `the command did not finish within ${Math.round(deadlineMs / 1000)} s`, { hint: 'it may still complete; check its effect before retrying' }), undefined, limitHeaders)
    }
    // Debug only: every call is already in the audit trail; a line per request at info would cost
    // a write syscall each on the hot path.
    if (log.isLevelEnabled('debug')) log.debug({ requestId, door: 'http', verb: outcome.verb, status: outcome.http, ms: Math.round(outcome.durationMs), key: principal.keyFingerprint }, 'exec')
    return jsonResponse(bodyJson(outcome), outcome.http, outcome.requestId, limitHeaders, outcome.error?.headers)
  })

  app.notFound((c) => reply(randomUUID(), new CommandError('not_found', `no such endpoint ${c.req.method} ${c.req.path.slice(0, 100)}`, { hint: 'the API is POST /exec' })))

  // A bug in the door itself: logged in full, answered with nothing but the code.
  app.onError((err, c) => {
    const requestId = randomUUID()
    log.error({ err, requestId, door: 'http' }, 'internal error')
    return reply(requestId, new CommandError('internal', `internal error (request id ${requestId})`))
  })

  function authenticate(header: string | undefined): Principal {
    const challenge = 'Bearer realm="boxd"'
    if (header === undefined || header === '') {
      throw new CommandError('unauthenticated', 'missing bearer token', {
        hint: 'send Authorization: Bearer <token>; mint one with boxdtoken (scripts/boxd-token.sh) or `boxd token mint`',
        headers: { 'WWW-Authenticate': challenge },
      })
    }
    const m = /^Bearer +([!-~]+) *$/i.exec(header)
    if (!m) {
      throw new CommandError('unauthenticated', 'the Authorization header must be "Bearer <token>"', {
        headers: { 'WWW-Authenticate': `${challenge}, error="invalid_request"` },
      })
    }
    try {
      return tokens.authenticate(m[1])
    } catch (e) {
      const err = asCommandError(e)
      if (err.code !== 'unauthenticated') throw err
      // RFC 6750 §3: a bad token is "invalid_token", with the same challenge.
      throw new CommandError('unauthenticated', err.message, { hint: err.hint, headers: { 'WWW-Authenticate': `${challenge}, error="invalid_token"` } })
    }
  }

  /**
   * Runs the line with an AbortSignal that fires at the deadline or when the client goes away
   * (watched on the Node response when there is one: touching Request.signal would make the
   * adapter build a full web Request for every call).
   */
  async function dispatchWithDeadline(line: string, principal: Principal, requestId: string, outgoing: ServerResponse | undefined, raw: Request): Promise<Outcome | 'timeout'> {
    const ac = new LazyAbort()
    const onGone = () => {
      if (!outgoing || !outgoing.writableFinished) ac.abort(new Error('client went away'))
    }
    if (outgoing) outgoing.on('close', onGone)
    else raw.signal.addEventListener('abort', onGone, { once: true })
    let timer: NodeJS.Timeout | undefined
    try {
      // One promise settled by whichever comes first: the outcome (or the dispatcher's throw,
      // which goes to onError) or the deadline. After a 504 nobody awaits the run.
      return await new Promise<Outcome | 'timeout'>((resolve, reject) => {
        timer = setTimeout(() => {
          ac.abort(new CommandError('timeout', 'deadline passed'))
          resolve('timeout')
        }, deadlineMs)
        dispatcher.dispatch({ line, principal, door: 'http', forceJson: true, signal: ac.signal, requestId }).then(resolve, reject)
      })
    } finally {
      clearTimeout(timer)
      if (outgoing) outgoing.off('close', onGone)
      else raw.signal.removeEventListener('abort', onGone)
    }
  }

  return app
}

/**
 * An AbortController made only if the verb asks for its signal (most never do, and making one
 * costs more than the rest of the door's bookkeeping). An abort before that is remembered: the
 * signal is then born aborted, with the same reason.
 */
class LazyAbort {
  private controller?: AbortController
  private reason: unknown
  private aborted = false

  readonly signal = (): AbortSignal => {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.aborted) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.controller?.abort(reason)
  }
}

function decodeLine(body: Buffer): string {
  try {
    return utf8.decode(body)
  } catch {
    throw new CommandError('usage', 'the request body is not valid UTF-8', { hint: 'send the command as UTF-8 text' })
  }
}

function asCommandError(e: unknown): CommandError {
  if (e instanceof CommandError) return e
  throw e // not ours to translate: onError answers 500 without detail
}

function reply(requestId: string, err: CommandError, status = httpStatus(err.code), extra?: Record<string, string>): Response {
  return jsonResponse(JSON.stringify(err.toJSON()), status, requestId, extra, err.headers)
}

/**
 * A JSON reply, its headers as a plain object with lower-case names: what Headers would send
 * (later sources win, names case-insensitive), without building a Headers object per request —
 * the Node adapter writes a plain object straight to the socket. Replies can carry secrets
 * (`token shorten`, `ssh-key generate-api-key`): never cached.
 */
function jsonResponse(body: string, status: number, requestId: string, ...more: Array<Record<string, string> | undefined>): Response {
  const headers: Record<string, string> = { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store', 'x-request-id': requestId }
  for (const h of more) if (h) for (const k in h) headers[k.toLowerCase()] = h[k]
  return new Response(body, { status: status as ContentfulStatusCode, headers })
}

/**
 * A request header from the Node request's raw list (reading c.req.header() builds a Headers
 * object for the whole request). Values are trimmed and repeated headers joined with ", ", as
 * Headers.get does, so a doubled Authorization is as malformed here as there.
 */
function rawHeader(incoming: IncomingMessage, name: string): string | undefined {
  const raw = incoming.rawHeaders
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]
    if (k.length !== name.length || k.toLowerCase() !== name) continue
    const v = raw[i + 1].replace(HTTP_WHITESPACE_EDGES, '') // as Headers normalizes a value
    value = value === undefined ? v : `${value}, ${v}`
  }
  return value
}

const HTTP_WHITESPACE_EDGES = /^[\t\n\r ]+|[\t\n\r ]+$/g
