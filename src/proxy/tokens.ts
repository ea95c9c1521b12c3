// Machine tokens: boxd0 tokens signed for `v0@<machine>.<domain>`, accepted only by that machine's
// proxy. The signing key must be a registered key of an active user (the same lookup as the API
// verifier); whether that user may reach the machine is decided by the caller (ShareService).
import { CommandError } from '../errors.js'
import { activeKeyLookup } from '../auth/token-service.js'
import { parseToken, TokenVerifier, tokenNamespace, type VerifiedToken } from '../auth/token.js'
import type { Clock } from '../services.js'
import type { Store } from '../store/index.js'

// One verifier per machine namespace, each caching its KeyObjects; bounded (LRU).
const MAX_VERIFIERS = 256

export class MachineTokens {
  private readonly verifiers = new Map<string, TokenVerifier>()

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly domain: string) {}

  namespace(machine: string): string {
    return tokenNamespace(`${machine}.${this.domain}`)
  }

  /** Throws CommandError('unauthenticated'); the message never contains the token. */
  verify(machine: string, token: string): VerifiedToken {
    try {
      return this.verifier(machine).verify(token)
    } catch (e) {
      if (e instanceof CommandError && e.code === 'unauthenticated') throw this.explain(machine, token, e)
      throw e
    }
  }

  private verifier(machine: string): TokenVerifier {
    const ns = this.namespace(machine)
    let v = this.verifiers.get(ns)
    if (v) {
      this.verifiers.delete(ns)
    } else {
      // The namespace is fixed per verifier: a token signed for the API (v0@<domain>) or for
      // another machine can never verify here, because the signed data is rebuilt from ours.
      v = new TokenVerifier({ namespace: ns, lookup: activeKeyLookup(this.store, this.clock), now: () => Math.floor(this.clock.now().getTime() / 1000) })
      if (this.verifiers.size >= MAX_VERIFIERS) this.verifiers.delete(this.verifiers.keys().next().value!)
    }
    this.verifiers.set(ns, v)
    return v
  }

  /** A friendlier reason when the token was plainly signed for another namespace (a hint only: never trusted). */
  private explain(machine: string, token: string, e: CommandError): CommandError {
    let signedFor: string | undefined
    try {
      signedFor = parseToken(token).sig.namespace.toString('utf8')
    } catch {
      return e
    }
    const ns = this.namespace(machine)
    if (signedFor === ns) return e
    const what = signedFor === tokenNamespace(this.domain) ? 'an API token' : 'a token for another namespace'
    return new CommandError('unauthenticated', `${what} is not accepted by ${machine}.${this.domain}`, {
      hint: `sign a machine token for it: boxdtoken '{}' ~/.ssh/id_ed25519 ${machine}.${this.domain}`,
    })
  }
}
