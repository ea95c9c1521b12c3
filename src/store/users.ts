import type { DB } from './db.js'
import { newId } from './ids.js'

export type Role = 'admin' | 'user'
export type UserStatus = 'active' | 'disabled'

export interface User {
  id: string
  email: string
  role: Role
  status: UserStatus
  expires_at: string | null
  created_at: string
}

export class Users {
  private readonly byId
  private readonly byEmail
  constructor(private readonly db: DB) {
    this.byId = db.prepare<[string], User>('SELECT * FROM users WHERE id = ?')
    this.byEmail = db.prepare<[string], User>('SELECT * FROM users WHERE email = ?')
  }

  get(id: string): User | undefined {
    return this.byId.get(id)
  }

  findByEmail(email: string): User | undefined {
    return this.byEmail.get(email.toLowerCase())
  }

  list(): User[] {
    return this.db.prepare<[], User>('SELECT * FROM users ORDER BY created_at, email').all()
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
  }

  firstAdmin(): User | undefined {
    return this.db.prepare<[], User>("SELECT * FROM users WHERE role = 'admin' ORDER BY created_at, rowid LIMIT 1").get()
  }

  insert(u: { email: string; role: Role }, now: Date): User {
    const user: User = { id: newId('usr'), email: u.email.toLowerCase(), role: u.role, status: 'active', expires_at: null, created_at: now.toISOString() }
    this.db.prepare('INSERT INTO users (id, email, role, status, expires_at, created_at) VALUES (@id, @email, @role, @status, @expires_at, @created_at)').run(user)
    return user
  }

  /** Active and not expired at `now`: the only users any door lets in. */
  isActive(u: User, now: Date): boolean {
    return u.status === 'active' && (u.expires_at === null || u.expires_at > now.toISOString())
  }
}
