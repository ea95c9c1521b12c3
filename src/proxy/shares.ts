// Who may reach a machine through the HTTPS proxy, and the `share` verbs that change it.
// Policy: the owner, and accounts it is shared with (by email), when authenticated; anyone on a
// port marked public. A share grants proxy access only — never a shell or any verb.
import { machineAllowed } from '../auth/permissions.js'
import type { Principal } from '../auth/principal.js'
import { CommandError, notFound, usage } from '../errors.js'
import type { Clock, Config } from '../services.js'
import type { MachineRow, Store } from '../store/index.js'
import { machineHostname, webBase } from './urls.js'

// Bounds the share list per machine.
export const MAX_SHARES_PER_MACHINE = 100

export interface ShareView {
  machine: string
  /** The port <machine>.<domain> reaches. */
  proxy_port: number
  url: string
  /** Is <machine>.<domain> (its proxy port) public? */
  public: boolean
  /** Every port with its own hostname that is public, plus the proxy port. */
  ports: { port: number; public: boolean; url: string }[]
  shared_with: { email: string; created_at: string }[]
}

export class ShareService {
  constructor(private readonly store: Store, private readonly clock: Clock, private readonly config: Config) {}

  show(m: MachineRow): ShareView {
    const row = this.fresh(m)
    const flags = new Map(this.store.shares.proxyPorts(row.id).map((p) => [p.port, p.public === 1]))
    const ports = [...new Set([row.proxy_port, ...flags.keys()])].sort((a, b) => a - b)
    return {
      machine: row.name,
      proxy_port: row.proxy_port,
      url: `${webBase(this.config, machineHostname(this.config, row.name))}/`,
      public: flags.get(row.proxy_port) ?? false,
      ports: ports.map((port) => ({ port, public: flags.get(port) ?? false, url: `${webBase(this.config, machineHostname(this.config, row.name, port))}/` })),
      shared_with: this.store.shares.emails(row.id),
    }
  }

  setProxyPort(m: MachineRow, port: number): ShareView {
    this.store.machines.update(m.id, { proxy_port: port }, this.clock.now())
    return this.show(m)
  }

  /** `port` undefined = the proxy port (what <machine>.<domain> reaches). */
  setPublic(m: MachineRow, port: number | undefined, isPublic: boolean): ShareView {
    this.store.shares.setPublic(m.id, port ?? this.fresh(m).proxy_port, isPublic, this.clock.now())
    return this.show(m)
  }

  add(m: MachineRow, email: string): ShareView {
    const owner = this.store.users.get(m.user_id)
    if (owner && owner.email === email.toLowerCase()) throw usage(`${email} owns ${m.name} already`)
    this.store.tx(() => {
      if (this.store.shares.count(m.id) >= MAX_SHARES_PER_MACHINE) {
        throw new CommandError('quota_exceeded', `${m.name} is shared with ${MAX_SHARES_PER_MACHINE} accounts, the most allowed`, { hint: 'remove one with `share remove`' })
      }
      this.store.shares.add(m.id, email, this.clock.now())
    })
    return this.show(m)
  }

  remove(m: MachineRow, email: string): ShareView {
    if (!this.store.shares.remove(m.id, email)) throw notFound(`${m.name} is not shared with ${email}`, `see \`share show ${m.name}\``)
    return this.show(m)
  }

  /**
   * `browser <m>`: a machine the caller owns, or that is shared with them (proxy access only),
   * within their token's `machines` caveat; anything else is not_found, as everywhere.
   */
  reachable(principal: Principal, name: string): MachineRow {
    const row = this.store.machines.byName(name)
    if (!row || !machineAllowed(principal, name) || !this.mayReach(row, principal.user)) {
      throw notFound(`machine "${name}" not found`, 'run `ls` to list your machines')
    }
    return row
  }

  /** Security gate for the proxy: may this (authenticated, active) account reach the machine? */
  mayReach(m: MachineRow, user: { id: string; email: string }): boolean {
    return m.user_id === user.id || this.store.shares.isSharedWith(m.id, user.email)
  }

  isPublic(m: MachineRow, port: number): boolean {
    return this.store.shares.isPublic(m.id, port)
  }

  private fresh(m: MachineRow): MachineRow {
    const row = this.store.machines.get(m.id)
    if (!row) throw notFound(`machine "${m.name}" not found`)
    return row
  }
}
