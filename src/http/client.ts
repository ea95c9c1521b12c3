// `boxd exec --url URL '<command>'`: the HTTPS API driven like `ssh host '<command>'`. Mints a
// short-lived token for exactly that verb, POSTs the line to /exec, and prints what SSH would:
// the verb's human output (rendered here by the same command definition) or its JSON with
// --json, errors on stderr, and the same exit status.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { mint, type Signer } from '../auth/mint.js'
import { CommandError, ERROR_CODES, exitStatus, type ErrorCode } from '../errors.js'
import type { Registry } from '../registry/registry.js'
import { tokenize } from '../registry/tokenize.js'
import type { Command } from '../registry/types.js'

export interface ExecClientOptions {
  url: string
  line: string
  signer: Signer
  /** Token namespace domain; default $BOXD_DOMAIN, else the URL's host name (unless an IP), else boxd.localhost. */
  domain?: string
  insecure?: boolean
  cacert?: string
  /** Token lifetime in seconds (default 120): long enough for clock skew, short enough to be worthless if it leaks. */
  ttl?: number
  tty?: boolean
}

export interface ExecResult {
  stdout: string
  stderr: string
  exit: number
}

// ssh's own status for "could not connect": scripts can tell it from a command's failure.
const EXIT_UNREACHABLE = 255
const CLIENT_TIMEOUT_MS = 45_000

export async function execRemote(o: ExecClientOptions, registry: Registry): Promise<ExecResult> {
  let url: URL
  try {
    url = new URL(o.url)
  } catch {
    throw new CommandError('usage', `--url: "${o.url.slice(0, 80)}" is not a URL`, { hint: 'e.g. --url https://boxd.localhost:8443' })
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CommandError('usage', '--url must be https:// (or http:// behind a TLS proxy)')
  if (!url.pathname.endsWith('/exec')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/exec`

  const { cmd, words, json } = resolve(o.line, registry)
  const domain = o.domain || process.env.BOXD_DOMAIN || (isIP(url.hostname.replace(/^\[|\]$/g, '')) ? 'boxd.localhost' : url.hostname)
  const now = Math.floor(Date.now() / 1000)
  // Exactly the one verb, for a couple of minutes: the least a leaked token could do.
  const token = await mint({ exp: now + (o.ttl ?? 120), cmds: [cmd?.name ?? words[0] ?? 'help'] }, domain, o.signer)

  let res: { status: number; body: string }
  try {
    res = await post(url, o.line, token, { insecure: o.insecure, ca: o.cacert === undefined ? undefined : readFileSync(o.cacert, 'utf8') })
  } catch (e) {
    return { stdout: '', stderr: `error: cannot reach ${url.origin}: ${(e as Error).message}\n`, exit: EXIT_UNREACHABLE }
  }
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    return { stdout: '', stderr: `error: ${url.origin} answered HTTP ${res.status} without JSON (is this a boxd server?)\n`, exit: 1 }
  }
  if (res.status === 200) {
    if (json || !cmd) return { stdout: `${JSON.stringify(body)}\n`, stderr: '', exit: 0 }
    const text = cmd.human ? cmd.human(body, { tty: Boolean(o.tty) }) : JSON.stringify(body, null, 2)
    return { stdout: text === '' ? '' : `${text}\n`, stderr: '', exit: 0 }
  }
  const err = body as { error?: unknown; code?: unknown; hint?: unknown }
  const code = ERROR_CODES.includes(err.code as ErrorCode) ? (err.code as ErrorCode) : 'internal'
  const message = typeof err.error === 'string' ? err.error : `HTTP ${res.status}`
  return {
    stdout: json ? `${JSON.stringify(body)}\n` : '',
    stderr: `error: ${message}\n${typeof err.hint === 'string' ? `hint: ${err.hint}\n` : ''}`,
    exit: exitStatus(code),
  }
}

function resolve(line: string, registry: Registry): { cmd?: Command; words: string[]; json: boolean } {
  let words: string[]
  try {
    words = tokenize(line)
  } catch {
    return { words: line.trim().split(/\s+/), json: false } // the server will say what is wrong
  }
  const flags = words.includes('--') ? words.slice(0, words.indexOf('--')) : words
  const json = flags.includes('--json')
  try {
    return { cmd: registry.resolve(words).cmd, words, json }
  } catch {
    return { words, json } // unknown here (an older client?): the server decides
  }
}

function post(url: URL, line: string, token: string, tls: { insecure?: boolean; ca?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolveP, reject) => {
    const body = Buffer.from(line)
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), Accept: 'application/json' }
    const req = url.protocol === 'https:'
      ? httpsRequest(url, { method: 'POST', headers, rejectUnauthorized: !tls.insecure, ca: tls.ca, timeout: CLIENT_TIMEOUT_MS })
      : httpRequest(url, { method: 'POST', headers, timeout: CLIENT_TIMEOUT_MS })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolveP({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.end(body)
  })
}
