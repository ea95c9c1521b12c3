// Account administration for the `user …` verbs (admin only). Every change is one transaction
// with its event, so a webhook hears of exactly the changes that happened.
import type { Principal } from '../auth/principal.js'
import { conflict, notFound } from '../errors.js'
import type { Services } from '../services.js'
import type { User } from '../store/index.js'

export interface UserView {
  id: string
  email: string
  role: User['role']
  status: User['status']
  /** Can log in now: active and not expired. */
  active: boolean
  expires_at: string | null
  created_at: string
  ssh_keys: number
  machines: number
}

type Deps = Pick<Services, 'store' | 'clock' | 'events'>

export function userView(s: Pick<Services, 'store' | 'clock'>, u: User): UserView {
  return {
    id: u.id, email: u.email, role: u.role, status: u.status, active: s.store.users.isActive(u, s.clock.now()),
    expires_at: u.expires_at, created_at: u.created_at, ssh_keys: s.store.userAdmin.keyCount(u.id), machines: s.store.machines.countForUser(u.id),
  }
}

export function targetUser(s: Pick<Services, 'store'>, email: string): User {
  const u = s.store.users.findByEmail(email)
  if (!u) throw notFound(`no user ${email}`, 'run `user ls` to list accounts')
  return u
}

/** An admin may not lock themselves out (disable, expire, remove): another admin must do it. */
export function notSelf(actor: Principal, u: User, what: string): void {
  if (actor.user.id === u.id) throw conflict(`you cannot ${what} your own account`, 'ask another admin')
}

/** Apply `change` to the user and emit `type` in one transaction; returns the fresh view. */
export function changeUser(s: Deps, actor: Principal, u: User, type: string, change: () => void, extra: Record<string, unknown> = {}): UserView {
  return s.store.tx(() => {
    change()
    const fresh = s.store.users.get(u.id)!
    s.events.emit(type, { user_id: fresh.id, email: fresh.email, by: actor.user.email, ...extra }, { userId: fresh.id })
    return userView(s, fresh)
  })
}

/** The last admin who can log in may not be demoted, disabled or expired away. */
export function keepAnAdmin(s: Pick<Services, 'store' | 'clock'>, u: User): void {
  if (u.role === 'admin' && s.store.users.isActive(u, s.clock.now()) && s.store.userAdmin.activeAdmins(s.clock.now().toISOString()) <= 1) {
    throw conflict(`${u.email} is the last active admin`, 'make another user admin first: user set-role <email> admin')
  }
}
