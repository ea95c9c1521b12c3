// boxd0 tokens: `boxd0.<B64URL(P)>.<B64URL(S)>`, P the permission JSON exactly as signed, S the
// binary SSHSIG blob of `ssh-keygen -Y sign -n v0@<domain>` over P (ARCHITECTURE.md "Tokens").
//
// Everything here is stricter than it needs to be for honest clients on purpose: one token has
// exactly one spelling, and one payload has exactly one meaning, so no parser downstream (ours
// or a log reader's) can be made to see something other than what was signed.
import type { KeyObject } from 'node:crypto'
import { CommandError } from '../errors.js'
import { fingerprint, parsePublicKey, parseSshSig, publicKeyText, signSshSig, verifySshSig, type ParsedSshSig, type SshPublicKey } from './sshsig.js'

export interface TokenClaims { exp?: number; nbf?: number; cmds?: string[]; ctx?: unknown; machines?: string[] }
export interface VerifiedToken { claims: TokenClaims; fingerprint: string; keyId: string; userId: string; payload: string }
export interface KeyLookup {
  (fingerprint: string): { keyId: string; userId: string; publicKey: string /* canonical "type base64" */ } | undefined
}

export const TOKEN_PREFIX = 'boxd0'
export const MAX_TOKEN_LENGTH = 8192
// 2000-01-01 … 2100-01-01: anything outside is a typo (milliseconds, a year) rather than intent.
const MIN_TIME = 946684800
const MAX_TIME = 4102444800
// Registered keys are few; the bound only stops a churn of key rotations from growing memory.
const KEY_CACHE_SIZE = 1024

const MINT_HINT = 'mint a fresh token with boxdtoken (scripts/boxd-token.sh)'

function rejected(message: string, hint = MINT_HINT): CommandError {
  return new CommandError('unauthenticated', message, { hint })
}

/** The API namespace for a domain; machine tokens use `v0@<machine>.<domain>`. */
export function tokenNamespace(domain: string): string {
  return `v0@${domain}`
}

/** Decodes a token part; only the one canonical unpadded spelling of each byte string is accepted. */
function base64url(part: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw rejected(`token ${what} is not base64url (only A-Z a-z 0-9 _ - allowed, no padding)`)
  const bytes = Buffer.from(part, 'base64url')
  // Node's decoder is lenient (ignores stray trailing bits, a dangling char); re-encoding catches both.
  if (bytes.toString('base64url') !== part) throw rejected(`token ${what} is not canonical base64url`)
  return bytes
}

const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y
const JSON_SCALAR = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null/y

function badJson(what: string): CommandError {
  return rejected(`token payload is not acceptable JSON: ${what}`)
}

/**
 * Checks RFC 8259 grammar and rejects duplicate keys at any depth (JSON.parse silently keeps the
 * last one, so a signed `{"cmds":[],"cmds":["rm"]}` would mean different things to different
 * readers). Iterative, so nesting depth cannot exhaust the stack. Returns the raw text of each
 * top-level scalar member, so integers can be checked as written, not as parsed.
 */
function scanJson(text: string): Map<string, string> {
  const topLevel = new Map<string, string>()
  const open: Array<Set<string> | null> = [] // per open container: keys seen (object) or null (array)
  let i = 0
  let topKey = ''
  const ws = () => {
    while (text[i] === ' ' || text[i] === '\t') i++
  }
  const token = (re: RegExp): boolean => {
    re.lastIndex = i
    if (!re.test(text)) return false
    i = re.lastIndex
    return true
  }
  const key = (seen: Set<string>) => {
    ws()
    const start = i
    if (!token(JSON_STRING)) throw badJson('object keys must be strings')
    const name = JSON.parse(text.slice(start, i)) as string // decodes escapes: "a" and "\u0061" collide
    if (seen.has(name)) throw badJson('duplicate key')
    seen.add(name)
    if (open.length === 1) topKey = name
    ws()
    if (text[i++] !== ':') throw badJson('expected ":" after a key')
  }
  for (;;) {
    // Here a value must start.
    ws()
    const start = i
    const c = text[i]
    if (c === '{' || c === '[') {
      i++
      ws()
      const seen = c === '{' ? new Set<string>() : null
      if (text[i] === (seen ? '}' : ']')) {
        i++
      } else {
        open.push(seen)
        if (seen) key(seen)
        continue
      }
    } else {
      if (!token(JSON_STRING) && !token(JSON_SCALAR)) throw badJson(`unexpected input at offset ${start}`)
      if (open.length === 1) topLevel.set(topKey, text.slice(start, i))
    }
    // Here a value has ended: close containers until one continues with ",".
    for (;;) {
      ws()
      if (open.length === 0) {
        if (i !== text.length) throw badJson('trailing characters after the object')
        return topLevel
      }
      const seen = open[open.length - 1]
      const ch = text[i++]
      if (ch === ',') {
        if (seen) key(seen)
        break
      }
      if (ch !== (seen ? '}' : ']')) throw badJson(`unexpected input at offset ${i - 1}`)
      open.pop()
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }) // keep a BOM so it is rejected

function unixTime(name: string, raw: string | undefined): number {
  // Digits only: no fraction, exponent, sign (so no -0) or leading zero; one spelling per instant.
  if (raw === undefined || !/^[1-9][0-9]{0,10}$/.test(raw)) {
    throw rejected(`token claim "${name}" must be an integer unix time in seconds, written without fraction or exponent`)
  }
  const v = Number(raw)
  if (v < MIN_TIME || v > MAX_TIME) throw rejected(`token claim "${name}" must be a unix time in seconds between ${MIN_TIME} and ${MAX_TIME}`)
  return v
}

function nonEmptyStrings(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
    throw rejected(`token claim "${name}" must be an array of non-empty strings`)
  }
  return value as string[]
}

function parseClaims(bytes: Buffer): TokenClaims {
  // Newlines and NUL are where line-based logs and C strings disagree with JSON about the payload.
  if (bytes.includes(0x00) || bytes.includes(0x0a) || bytes.includes(0x0d)) throw rejected('token payload contains a newline or NUL byte')
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw rejected('token payload is not valid UTF-8')
  }
  if (text[0] !== '{' || text[text.length - 1] !== '}') throw rejected('token payload must be a JSON object with no surrounding whitespace')
  const raw = scanJson(text)
  const claims: TokenClaims = {}
  for (const [name, value] of Object.entries(JSON.parse(text) as Record<string, unknown>)) {
    switch (name) {
      case 'exp':
      case 'nbf':
        claims[name] = unixTime(name, raw.get(name))
        break
      case 'cmds':
      case 'machines':
        claims[name] = nonEmptyStrings(name, value)
        break
      case 'ctx':
        claims.ctx = value
        break
      default:
        // Unknown members are refused rather than ignored: a caveat we do not understand must
        // not silently widen what the token can do.
        throw rejected(`token payload has an unknown member${/^\w{1,32}$/.test(name) ? ` "${name}"` : ''}; allowed: exp, nbf, cmds, ctx, machines`)
    }
  }
  return claims
}

/** Strict syntax check of a boxd0 token; proves nothing about who signed it. */
export function parseToken(token: string): { payloadBytes: Buffer; claims: TokenClaims; sig: ParsedSshSig } {
  if (token.length > MAX_TOKEN_LENGTH) throw rejected(`token is longer than ${MAX_TOKEN_LENGTH} bytes`, 'grant fewer commands or less ctx per token')
  const parts = token.split('.')
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) throw rejected('not a boxd0 token (expected boxd0.<payload>.<signature>)')
  const payloadBytes = base64url(parts[1], 'payload')
  const claims = parseClaims(payloadBytes)
  const sig = parseSshSig(base64url(parts[2], 'signature'))
  return { payloadBytes, claims, sig }
}

/** Assembles a token from the exact payload bytes and the binary SSHSIG blob over them. */
export function formatToken(payload: Buffer, sshsig: Buffer): string {
  return `${TOKEN_PREFIX}.${payload.toString('base64url')}.${sshsig.toString('base64url')}`
}

/** Mints a token in-process, as boxdtoken would with the same key (CLI, tests, benchmarks). */
export function mintToken(payload: string, privateKey: KeyObject, namespace: string): string {
  const bytes = Buffer.from(payload)
  return formatToken(bytes, signSshSig(bytes, namespace, privateKey))
}

/** Decodes stored key text, insisting it is exactly the canonical form of its own blob. */
function registeredBlob(fp: string, text: string): Buffer {
  const blob = Buffer.from(text.slice(text.indexOf(' ') + 1), 'base64')
  try {
    if (publicKeyText(blob) === text) return blob
  } catch {
    // truncated blob: reported below
  }
  // Stored data, not the caller's input: a bug or corruption on our side.
  throw new CommandError('internal', `registered key ${fp} is not stored as canonical "type base64" text`)
}

export class TokenVerifier {
  private readonly namespace: string
  private readonly lookup: KeyLookup
  private readonly now: () => number
  private readonly keys = new Map<string, SshPublicKey>()

  constructor(opts: { namespace: string; lookup: KeyLookup; now?: () => number /* unix seconds */ }) {
    if (!opts.namespace) throw new TypeError('TokenVerifier: namespace is required')
    this.namespace = opts.namespace
    this.lookup = opts.lookup
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000))
  }

  /** Verifies a token end to end; throws CommandError('unauthenticated') saying what is wrong. */
  verify(token: string): VerifiedToken {
    const { payloadBytes, claims, sig } = parseToken(token)
    const fp = fingerprint(sig.publicKey)
    // Asked on every call, never cached: removing a key or disabling a user revokes at once.
    const registered = this.lookup(fp)
    if (!registered) {
      throw rejected(`token was signed by ${fp}, which is not a registered key of an active user`, 'register that public key with your account, or sign with one that is')
    }
    verifySshSig(sig, payloadBytes, this.namespace, this.key(fp, registered.publicKey))
    const now = this.now()
    if (claims.exp !== undefined && now >= claims.exp) throw rejected('token has expired (its exp has passed)')
    if (claims.nbf !== undefined && now < claims.nbf) throw rejected('token is not valid yet (nbf is in the future)', 'wait until nbf, or check this clock and the token\'s nbf')
    return { claims, fingerprint: fp, keyId: registered.keyId, userId: registered.userId, payload: payloadBytes.toString('utf8') }
  }

  /** Registered key text → KeyObject, cached (LRU) so the hot path parses no keys. The cache is
   *  keyed by the text itself, so a key re-registered with other bytes is never served stale. */
  private key(fp: string, text: string): SshPublicKey {
    const id = `${fp} ${text}`
    const hit = this.keys.get(id)
    if (hit) {
      this.keys.delete(id)
      this.keys.set(id, hit)
      return hit
    }
    const key = parsePublicKey(registeredBlob(fp, text))
    this.keys.set(id, key)
    if (this.keys.size > KEY_CACHE_SIZE) this.keys.delete(this.keys.keys().next().value!)
    return key
  }
}
