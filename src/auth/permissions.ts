// Default-deny permission checks, read from the verb's declaration and parsed, named input only
// (never from positional guesses like args[0]).
import { CommandError } from '../errors.js'
import type { Principal } from './principal.js'

export interface TokenClaimsLike {
  exp?: number
  nbf?: number
  cmds?: string[]
  ctx?: unknown
  machines?: string[]
}

/** What a token with no `cmds` may do: read-only verbs. */
export const DEFAULT_TOKEN_CMDS: readonly string[] = ['help', 'whoami', 'ls', 'stat', 'ssh-key list', 'share show', 'token shorten']

export interface Gate {
  name: string
  admin: boolean
}

/** Throws forbidden unless the principal may run the verb at all. */
export function checkVerb(principal: Principal, cmd: Gate): void {
  if (cmd.admin && principal.user.role !== 'admin') {
    throw new CommandError('forbidden', `\`${cmd.name}\` is for admins`)
  }
  if (principal.via === 'token') {
    const cmds = principal.token?.claims.cmds ?? DEFAULT_TOKEN_CMDS
    if (!cmds.includes(cmd.name)) {
      throw new CommandError('forbidden', `this token does not allow \`${cmd.name}\``, {
        hint: `mint a token whose "cmds" includes "${cmd.name}"`,
      })
    }
  }
}

export function mayRun(principal: Principal, cmd: Gate): boolean {
  try {
    checkVerb(principal, cmd)
    return true
  } catch {
    return false
  }
}

/** May this principal act on the machine with this name? (token `machines` caveat; absent = all.) */
export function machineAllowed(principal: Principal, name: string): boolean {
  const globs = principal.token?.claims.machines
  return globs === undefined || globs.some((g) => globMatch(g, name))
}

/**
 * `*` and `?` only, iterative with one backtrack point: linear-ish time, no regex built from
 * user input (a token's globs are attacker-chosen).
 */
export function globMatch(glob: string, s: string): boolean {
  let g = 0, i = 0, starG = -1, starI = 0
  while (i < s.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === s[i])) { g++; i++ }
    else if (g < glob.length && glob[g] === '*') { starG = g++; starI = i }
    else if (starG >= 0) { g = starG + 1; i = ++starI }
    else return false
  }
  while (g < glob.length && glob[g] === '*') g++
  return g === glob.length
}
