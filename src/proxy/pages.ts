// What the proxy answers itself: errors as a small HTML page for browsers and as the usual
// `{"error","code","hint"}` JSON for everything else (curl, scripts, git).
import type { IncomingMessage } from 'node:http'
import { httpStatus, type CommandError } from '../errors.js'

export interface ProxyReply {
  status: number
  headers: Record<string, string | string[]>
  body: string
}

export function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '')
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** An error reply. 401s carry a challenge; browsers get a page that says how to get in. */
export function errorReply(req: IncomingMessage, err: CommandError, o: { hostname: string; machine: string; url: string; sshHint: string; status?: number }): ProxyReply {
  const status = o.status ?? httpStatus(err.code)
  const headers: Record<string, string | string[]> = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }
  if (status === 401) {
    // Browsers get a Bearer challenge (no password dialog); other clients also get Basic, so
    // `git` asks for a password and the machine token can be given there.
    headers['WWW-Authenticate'] = wantsHtml(req) ? `Bearer realm="${o.hostname}"` : [`Bearer realm="${o.hostname}"`, `Basic realm="${o.hostname}", charset="UTF-8"`]
  }
  if (!wantsHtml(req)) {
    return { status, headers: { ...headers, 'Content-Type': 'application/json; charset=utf-8' }, body: `${JSON.stringify(err.toJSON())}\n` }
  }
  const title = status === 401 ? `${o.hostname} is private` : `${o.hostname}: ${err.message}`
  const help = status === 401
    ? `<p>If it is yours or shared with you, get a sign-in link (valid 15 minutes, works once):</p>
<pre>${esc(o.sshHint)} browser ${esc(o.machine)}</pre>
<p>Scripts can send a machine token instead:</p>
<pre>curl -H "X-Boxd-Authorization: Bearer $(boxdtoken '{}' ~/.ssh/id_ed25519 ${esc(o.hostname)})" ${esc(o.url)}</pre>`
    : `<p>${esc(err.message)}</p>${err.hint ? `<p>${esc(err.hint)}</p>` : ''}`
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}</style></head>
<body><h1>${esc(title)}</h1>
${help}
</body></html>
`
  return { status, headers: { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" }, body }
}
