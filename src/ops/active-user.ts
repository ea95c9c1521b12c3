// Doors check that a user is active when they authenticate; a session opened before `user
// disable` (or before the expiry passed, or before a demotion) would otherwise keep its rights.
// This observer re-reads the account before every verb runs, so the change applies mid-session.
import { CommandError } from '../errors.js'
import type { Clock, DispatchObserver } from '../services.js'
import type { Store } from '../store/index.js'

export function activeUserGate(store: Store, clock: Clock, isAdminVerb: (verb: string) => boolean): DispatchObserver {
  return {
    beforeRun({ verb, principal }) {
      // A token caller was authenticated by this very request (key and account read fresh);
      // only sessions that outlive their login (SSH, the lobby) need the second look.
      if (principal.via === 'token') return
      const u = store.users.get(principal.user.id)
      if (!u || !store.users.isActive(u, clock.now())) {
        throw new CommandError('unauthenticated', 'this account is disabled, expired or removed')
      }
      // The principal's role was read at login; an admin demoted since then is a user now.
      if (isAdminVerb(verb) && u.role !== 'admin') throw new CommandError('forbidden', `\`${verb}\` is for admins`)
    },
  }
}
