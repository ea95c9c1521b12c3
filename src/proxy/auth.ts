// Who a proxied request speaks for. Credentials, in order of preference: a machine token in
// X-Boxd-Authorization (Bearer), in Authorization (Bearer, or Basic with the token as password,
// for git), then the browser session cookie. Anything else in Authorization is the app's own
// and is passed through untouched.
import type { IncomingMessage } from 'node:http'
import { CommandError, unauthenticated } from '../errors.js'

export type Presented =
  | { kind: 'token'; token: string; authorizationIsOurs: boolean }
  | { kind: 'none'; authorizationIsOurs: boolean }

const BOXD_CREDENTIAL = /^boxd[01]\./

/**
 * Reads the boxd credential a request presents. Throws `unauthenticated` for a malformed
 * X-Boxd-Authorization or for a boxd1 handle (an API credential, never valid here).
 */
export function presentedCredential(req: IncomingMessage): Presented {
  const fromAuthorization = boxdAuthorization(req.headers.authorization)
  const ours = fromAuthorization !== undefined
  const x = req.headers['x-boxd-authorization']
  let token: string | undefined
  if (x !== undefined) {
    const m = /^Bearer +([!-~]+) *$/i.exec(Array.isArray(x) ? '' : x)
    if (!m) throw unauthenticated('X-Boxd-Authorization must be "Bearer <machine token>"')
    token = m[1]
  } else {
    token = fromAuthorization
  }
  if (token === undefined) return { kind: 'none', authorizationIsOurs: ours }
  if (token.startsWith('boxd1.')) {
    // A boxd1 handle stands for an API token: refused here, like every API credential.
    throw new CommandError('unauthenticated', 'boxd1 handles are API credentials and are not accepted by a machine', { hint: 'sign a machine token: boxdtoken \'{}\' ~/.ssh/id_ed25519 <machine>.<domain>' })
  }
  return { kind: 'token', token, authorizationIsOurs: ours }
}

/** The boxd credential carried by an Authorization header, if that is what it carries. */
function boxdAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined
  const bearer = /^Bearer +([!-~]+) *$/i.exec(header)
  if (bearer) return BOXD_CREDENTIAL.test(bearer[1]) ? bearer[1] : undefined
  const basic = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header)
  if (basic) {
    const text = Buffer.from(basic[1], 'base64').toString('latin1')
    const password = text.slice(text.indexOf(':') + 1)
    return text.includes(':') && BOXD_CREDENTIAL.test(password) ? password : undefined
  }
  return undefined
}
