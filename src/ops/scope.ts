// Whose rows a listing verb (audit, events, task ls) shows: a user sees their own; an admin sees
// everyone's, or one user's with --user. Decided from the principal and parsed input only.
import { machineAllowed } from '../auth/permissions.js'
import type { Principal } from '../auth/principal.js'
import { forbidden, notFound } from '../errors.js'
import { clip, MACHINE_NAME_RE, type Param } from '../registry/params.js'
import type { Store } from '../store/index.js'

export type Scope = { all: true } | { userId: string; email: string }

export function listingScope(principal: Principal, store: Store, userEmail: string | undefined): Scope {
  const me = principal.user
  if (me.role !== 'admin') {
    if (userEmail !== undefined && userEmail !== me.email) throw forbidden('only admins may look at other users\' records')
    return { userId: me.id, email: me.email }
  }
  if (userEmail === undefined) return { all: true }
  const u = store.users.findByEmail(userEmail)
  if (!u) throw notFound(`no user ${userEmail}`)
  return { userId: u.id, email: u.email }
}

/** A token's `machines` caveat also narrows what listings show about machines. */
export function machineVisible(principal: Principal, machine: string | null): boolean {
  return machine === null || machineAllowed(principal, machine)
}

/**
 * `--machine` on history listings (audit, events): a filter over records, not a machine the verb
 * acts on, so it is not machine-typed — a deleted machine's history stays findable, and an
 * admin's view spans users. What a caller may see is bounded by listingScope and machineVisible.
 */
export function machineFilterParam(description: string): Param<string | undefined> {
  return {
    type: 'string', description, optional: true, repeatable: false, machine: false, secret: false,
    parse: (raw) => {
      if (!MACHINE_NAME_RE.test(raw)) throw new Error(`"${clip(raw)}" is not a machine name`)
      return raw
    },
  }
}
