// One SSH connection: authentication state, the SSH username (the machine-session seam), its
// sessions, its idle timer and its share of a clean shutdown.
import type { ClientInfo, Connection, ServerChannel } from 'ssh2'
import type { App } from '../app.js'
import type { Authenticator, AuthState, Identity } from './auth.js'
import type { Enrollment } from './enrollment.js'
import { connectionId, type ConnectionGate } from './gate.js'
import type { SshLimits } from './limits.js'
import { LOBBY_USERNAMES, type TermInfo } from './machine-sessions.js'
import { serveSession } from './session.js'

export interface DoorContext {
  app: App
  auth: Authenticator
  enrollment: Enrollment
  limits: SshLimits
  gate: ConnectionGate
  /** "ssh -p 2222 localhost": how users reach this server, for hints. */
  sshHint: string
  closing(): boolean
}

export class SshConnection {
  /** The SSH username as the client sent it: the lobby, or one of the caller's machines. */
  username = ''
  private readonly authState: AuthState
  private _identity?: Identity
  private readonly abort = new AbortController()
  private readonly inflight = new Set<Promise<void>>()
  private readonly shutdownHooks = new Set<() => void>()
  private sessions = 0
  private idleTimer?: NodeJS.Timeout
  private routed?: Promise<{ machine?: string }>

  constructor(private readonly door: DoorContext, readonly client: Connection, private readonly info: ClientInfo) {
    this.authState = door.auth.newState()
    client.on('error', (err: Error) => this.app.services.log.debug({ err: err.message, ip: info.ip }, 'ssh connection error'))
    client.on('authentication', (ctx) => {
      this.username = ctx.username
      door.auth.handle(ctx, this.authState, info.ip, () => client.end())
    })
    client.on('ready', () => this.ready())
    client.on('close', () => {
      this.closed = true
      clearTimeout(this.idleTimer)
      this.abort.abort()
    })
  }

  get app(): App { return this.door.app }
  get enrollment(): Enrollment { return this.door.enrollment }
  get limits(): SshLimits { return this.door.limits }
  get sshHint(): string { return this.door.sshHint }
  /** Aborted when the client goes away or shutdown's grace is over. */
  get signal(): AbortSignal { return this.abort.signal }

  get identity(): Identity {
    // Sessions exist only after 'ready', which only follows a verified signature (auth.ts).
    if (!this._identity) throw new Error('ssh: session on a connection without identity')
    return this._identity
  }

  setIdentity(i: Identity): void {
    this._identity = i
  }

  private ready(): void {
    const id = connectionId(this.info)
    if (id) this.door.gate.authenticated(id)
    // Defence in depth: ssh2 says ready only after our accept(), which follows a bound identity.
    if (!this.authState.identity) return void this.client.end()
    this._identity = this.authState.identity
    const who = this._identity.kind === 'user' ? this._identity.principal.user.email : 'newcomer'
    this.app.services.log.info({ who, username: this.username.slice(0, 64), ip: this.info.ip }, 'ssh login')
    this.client.on('session', (accept, reject) => {
      // sshd MaxSessions: one connection may not pile up channels (each holds a lobby or a verb).
      if (this.door.closing() || this.sessions >= this.limits.maxChannelsPerConnection) return reject()
      const session = accept()
      this.sessions++
      this.app.services.metrics.sshSessionOpened()
      clearTimeout(this.idleTimer)
      session.once('close', () => {
        this.sessions--
        this.app.services.metrics.sshSessionClosed()
        if (this.sessions === 0) this.armIdle()
      })
      serveSession(this, session)
    })
    this.armIdle()
  }

  /** A connection with no session (ssh -N, forwarding attempts) is closed after the idle timeout. */
  private armIdle(): void {
    clearTimeout(this.idleTimer)
    if (this.limits.idleTimeoutMs <= 0) return
    this.idleTimer = setTimeout(() => this.client.end(), this.limits.idleTimeoutMs)
    this.idleTimer.unref()
  }

  /** Where this connection's sessions go: a machine when the username is one of the caller's. */
  target(): Promise<{ machine?: string }> {
    return (this.routed ??= (async () => {
      const machines = this.app.machineSessions
      const me = this.identity
      if (!machines || me.kind !== 'user' || LOBBY_USERNAMES.has(this.username)) return {}
      const names = await machines.names(me.principal)
      return names.includes(this.username) ? { machine: this.username } : {}
    })())
  }

  openMachine(machine: string, channel: ServerChannel, pty: TermInfo | undefined, command: string | undefined, resize: Array<() => void>): Promise<number> {
    const me = this.identity
    if (me.kind !== 'user' || !this.app.machineSessions) return Promise.resolve(3)
    return this.app.machineSessions.open(
      { principal: me.principal, machine, command, pty },
      { stdin: channel, stdout: channel, stderr: channel.stderr, signal: this.signal, onResize: (cb) => resize.push(() => pty && cb({ cols: pty.cols, rows: pty.rows })) },
    )
  }

  /** Keep a session body's promise so shutdown can wait for it. */
  track(p: Promise<void>): void {
    const q = p.catch((err: unknown) => this.app.services.log.error({ err }, 'ssh session failed')).finally(() => this.inflight.delete(q))
    this.inflight.add(q)
  }

  /** Called on shutdown by interactive sessions that want to say goodbye. */
  onShutdown(hook: () => void): () => void {
    this.shutdownHooks.add(hook)
    return () => this.shutdownHooks.delete(hook)
  }

  /** Tell sessions, give running commands up to graceMs, then close. */
  async shutdown(graceMs: number): Promise<void> {
    for (const h of this.shutdownHooks) h()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, graceMs)))])
    clearTimeout(timer)
    this.abort.abort()
    // A client whose last channel closed leaves by itself; a DISCONNECT sent first could make it
    // exit before printing what it was just sent (the goodbye), so give it a moment.
    if (!this.closed) await this.settled(500)
    this.client.end()
  }

  private closed = false
  private settled(ms: number): Promise<void> {
    return new Promise((resolveP) => {
      const t = setTimeout(done, ms)
      const poll = setInterval(() => { if (this.closed || this.sessions === 0) done() }, 10)
      function done() {
        clearTimeout(t)
        clearInterval(poll)
        resolveP()
      }
    })
  }
}
