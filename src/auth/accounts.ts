// Account operations shared by verbs and the operator CLI.
import { conflict, notFound } from '../errors.js'
import type { Clock } from '../services.js'
import type { Role, SshKeyRow, Store, User } from '../store/index.js'
import { parsePublicKey } from './keys.js'

/** Register a key for a user. A key registered to anyone (not removed) → conflict. */
export function addKey(store: Store, clock: Clock, user: User, keyText: string, name?: string): SshKeyRow {
  const key = parsePublicKey(keyText)
  return store.tx(() => {
    if (store.keys.findActive(key.fingerprint)) throw conflict(`key ${key.fingerprint} is already registered`, 'each key belongs to one account; generate a new one with ssh-keygen -t ed25519')
    const existing = store.keys.listForUser(user.id)
    const keyName = name ?? defaultName(key.comment, existing)
    if (existing.some((k) => k.name === keyName)) throw conflict(`you already have a key named "${keyName}"`, 'choose another with --name')
    return store.keys.insert({ userId: user.id, name: keyName, publicKey: key.canonical, fingerprint: key.fingerprint }, clock.now())
  })
}

function defaultName(comment: string, existing: SshKeyRow[]): string {
  const clean = comment.replace(/[^\w.@+-]/g, '').slice(0, 64)
  if (clean) return clean
  for (let n = existing.length + 1; ; n++) if (!existing.some((k) => k.name === `key-${n}`)) return `key-${n}`
}

/** A key of this user by name, fingerprint or public key text. */
export function findKey(store: Store, user: User, ref: string): SshKeyRow {
  const keys = store.keys.listForUser(user.id)
  const text = ref.trim()
  const parts = text.split(/\s+/)
  const byKey = parts.length >= 2 ? `${parts[0]} ${parts[1]}` : undefined
  const hit = keys.find((k) => k.name === text || k.fingerprint === text || k.public_key === byKey)
  if (!hit) throw notFound(`no key "${text.slice(0, 60)}"`, 'run `ssh-key list` to see your keys')
  return hit
}

export function createUser(store: Store, clock: Clock, u: { email: string; role: Role; keyText?: string; keyName?: string }): User {
  return store.tx(() => {
    if (store.users.findByEmail(u.email)) throw conflict(`user ${u.email} already exists`)
    const user = store.users.insert({ email: u.email, role: u.role }, clock.now())
    if (u.keyText !== undefined) addKey(store, clock, user, u.keyText, u.keyName)
    return user
  })
}
