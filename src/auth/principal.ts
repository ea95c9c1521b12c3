// Who is calling, as established by a door. Built only after the credential verified.
import type { TokenClaimsLike } from './permissions.js'

export interface PrincipalUser {
  id: string
  email: string
  role: 'admin' | 'user'
}

export type Via = 'ssh-key' | 'token' | 'local'

export interface Principal {
  user: PrincipalUser
  via: Via
  /** SHA256 fingerprint of the key that authenticated (ssh-key) or signed the token; null for local. */
  keyFingerprint: string | null
  /** Present when via === 'token'. */
  token?: { id: string; claims: TokenClaimsLike }
  remoteAddress?: string
}
