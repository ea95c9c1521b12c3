// The seam for `ssh NAME@host`: the SSH door keeps the SSH username on the connection and, when it
// names one of the caller's machines and a handler is plugged (app.machineSessions), hands the
// session to it. The machines issue implements this; the door never knows what a machine is.
import type { Readable, Writable } from 'node:stream'
import type { Principal } from '../auth/principal.js'

export interface TermInfo {
  term: string
  cols: number
  rows: number
}

export interface MachineSessionRequest {
  principal: Principal
  /** A name returned by names() for this principal. */
  machine: string
  /** exec: the command string; undefined: an interactive shell. */
  command?: string
  /** Present when the client asked for a pty. */
  pty?: TermInfo
}

/** The channel, without ssh2 types. The door sends the exit status and closes after open() settles. */
export interface SessionIo {
  stdin: Readable
  stdout: Writable
  stderr: Writable
  /** window-change from the client. */
  onResize(cb: (size: { cols: number; rows: number }) => void): void
  /** Aborted when the client goes away or the server shuts down. */
  signal: AbortSignal
}

export interface MachineSessions {
  /**
   * The caller's machines by name, with the same ownership rule as the verbs (not yours → absent).
   * Routes `ssh NAME@host` and feeds the lobby's tab completion.
   */
  names(principal: Principal): string[] | Promise<string[]>
  /** Run a shell or command in the machine; resolves with its exit status. */
  open(req: MachineSessionRequest, io: SessionIo): Promise<number>
}

/** SSH usernames that always mean the lobby, whatever machines exist. */
export const LOBBY_USERNAMES: ReadonlySet<string> = new Set(['boxd', 'lobby'])
