// One error type for every verb and door. The code union is closed: adding a code without
// mapping it fails to compile in exitStatus()/httpStatus() (the `never` checks below).

export type ErrorCode =
  | 'usage'
  | 'unauthenticated'
  | 'forbidden'
  | 'unknown_command'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'failed'
  | 'timeout'
  | 'internal'

export const ERROR_CODES: readonly ErrorCode[] = [
  'usage', 'unauthenticated', 'forbidden', 'unknown_command', 'not_found', 'conflict',
  'payload_too_large', 'rate_limited', 'quota_exceeded', 'failed', 'timeout', 'internal',
]

export class CommandError extends Error {
  readonly code: ErrorCode
  readonly hint?: string
  /** Extra HTTP headers the door should send (Retry-After, WWW-Authenticate …). */
  readonly headers?: Record<string, string>
  constructor(code: ErrorCode, message: string, opts: { hint?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'CommandError'
    this.code = code
    this.hint = opts.hint
    this.headers = opts.headers
  }
  toJSON(): { error: string; code: ErrorCode; hint?: string } {
    return this.hint ? { error: this.message, code: this.code, hint: this.hint } : { error: this.message, code: this.code }
  }
}

export const usage = (msg: string, hint?: string) => new CommandError('usage', msg, { hint })
export const notFound = (msg: string, hint?: string) => new CommandError('not_found', msg, { hint })
export const conflict = (msg: string, hint?: string) => new CommandError('conflict', msg, { hint })
export const forbidden = (msg: string, hint?: string) => new CommandError('forbidden', msg, { hint })
export const unauthenticated = (msg: string, hint?: string) => new CommandError('unauthenticated', msg, { hint })
export const failed = (msg: string, hint?: string) => new CommandError('failed', msg, { hint })

function unreachable(x: never): never {
  throw new Error(`unmapped error code ${String(x)}`)
}

/** SSH exit status / `boxd run` exit status for a code. */
export function exitStatus(code: ErrorCode): number {
  switch (code) {
    case 'usage': return 2
    case 'unauthenticated': return 3
    case 'forbidden': return 4
    case 'unknown_command': return 5
    case 'not_found': return 6
    case 'conflict': return 7
    case 'payload_too_large': return 2
    case 'rate_limited': return 8
    case 'quota_exceeded': return 9
    case 'failed': return 1
    case 'timeout': return 124
    case 'internal': return 70
    default: return unreachable(code)
  }
}

/** HTTP status for a code. */
export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case 'usage': return 400
    case 'unauthenticated': return 401
    case 'forbidden': return 403
    case 'unknown_command': return 404
    case 'not_found': return 404
    case 'conflict': return 409
    case 'payload_too_large': return 413
    case 'rate_limited': return 429
    case 'quota_exceeded': return 422
    case 'failed': return 422
    case 'timeout': return 504
    case 'internal': return 500
    default: return unreachable(code)
  }
}
