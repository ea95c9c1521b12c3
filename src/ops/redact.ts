// What may be written to the audit trail. Declared secrets are dropped by spec (`secret: true`);
// everything else is scanned for things that look like credentials, because a user can paste a
// token or a private key into any argument.
import type { ParamsSpec } from '../registry/params.js'

export const REDACTED = '[redacted]'

// boxd0/boxd1 tokens, webhook secrets, and anything bearer-shaped that reaches us.
const CREDENTIAL_RE = /boxd[01]\.[A-Za-z0-9_.-]*|whsec_[A-Za-z0-9_-]*/g
const MAX_STRING = 256
const MAX_ARGS_JSON = 4096

/** Redact credential-looking substrings; a value mentioning a private key is dropped whole. */
export function redactString(s: string): string {
  if (/PRIVATE KEY/i.test(s)) return REDACTED
  let out = s.replace(CREDENTIAL_RE, REDACTED)
  out = redactUrl(out)
  return out.length > MAX_STRING ? `${out.slice(0, MAX_STRING)}…` : out
}

/** Credentials in URLs: user:password@ and query strings (webhook URLs often carry a key there). */
function redactUrl(s: string): string {
  if (!/^https?:\/\//i.test(s)) return s
  try {
    const u = new URL(s)
    if (!u.username && !u.password && !u.search) return s
    const cred = u.username || u.password ? `${REDACTED}@` : ''
    return `${u.protocol}//${cred}${u.host}${u.pathname}${u.search ? `?${REDACTED}` : ''}`
  } catch {
    return s
  }
}

/** The first word of a line that never resolved to a verb: enough to see a typo, never a secret. */
export function redactFirstWord(line: string): string {
  const first = line.trim().split(/\s+/, 1)[0] ?? ''
  if (/PRIVATE KEY|-----BEGIN/i.test(line.slice(0, 200))) return REDACTED
  return redactString(first).slice(0, 64)
}

function redactValue(v: unknown, secret: boolean): unknown {
  if (v === undefined) return undefined
  if (secret) return REDACTED
  if (typeof v === 'string') return redactString(v)
  if (Array.isArray(v)) {
    // Words of one value (`ssh-key add ssh-ed25519 AAAA…`): a private key split across them is
    // only recognisable when they are read together.
    if (v.some((x) => typeof x === 'string') && /PRIVATE KEY/i.test(v.join(' '))) return REDACTED
    return v.map((x) => redactValue(x, false))
  }
  if (v instanceof Date) return v.toISOString()
  if (typeof v === 'object' && v !== null) return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'string' ? redactString(x) : x)))
  return v
}

/** Given inputs only (defaults and empty lists left out), each redacted per its spec. */
function section(spec: ParamsSpec, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, param] of Object.entries(spec)) {
    const v = values[key]
    if (v === undefined || v === param.default || (Array.isArray(v) && v.length === 0)) continue
    out[key] = redactValue(v, param.secret)
  }
  return out
}

/** The audit `args` JSON of one call: `{"args":{…},"flags":{…}}`, bounded in size. */
export function redactInput(spec: { args: ParamsSpec; flags: ParamsSpec }, input: { args: Record<string, unknown>; flags: Record<string, unknown> }): string {
  const json = JSON.stringify({ args: section(spec.args, input.args), flags: section(spec.flags, input.flags) })
  return json.length > MAX_ARGS_JSON ? JSON.stringify({ truncated: true, size: json.length }) : json
}

/** Machine names among the typed inputs (params declared `machine`), for `audit --machine`. */
export function machinesOf(spec: { args: ParamsSpec; flags: ParamsSpec }, input: { args: Record<string, unknown>; flags: Record<string, unknown> }): string[] {
  const out: string[] = []
  for (const [specs, values] of [[spec.args, input.args], [spec.flags, input.flags]] as const) {
    for (const [key, param] of Object.entries(specs)) {
      if (!param.machine) continue
      const v = values[key]
      for (const name of Array.isArray(v) ? v : v === undefined ? [] : [v]) out.push(String(name))
    }
  }
  return out
}
