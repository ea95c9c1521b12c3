// The machine layer's one seam. The DB records intent; a Driver is reality.
// Commands never see a Driver directly: they go through the machine service (src/machines/service.ts).
import type { Duplex } from 'node:stream'
import type { ProcessRef } from './forwarder/host-process.js'

export type MachineState = 'creating' | 'running' | 'stopping' | 'stopped' | 'failed'

export interface MachineSpec {
  id: string            // boxd id (stable across renames); the driver labels/paths by id, never by name
  name: string          // DNS label; becomes the hostname inside the machine
  image: string         // sandbox: image name ('host' or imported); docker: image reference
  env: Record<string, string>
  cpu?: number          // cores (fractional allowed)
  memoryBytes?: number
  pids?: number
  network: 'none' | 'host'
  command?: string      // optional long-running command started at boot (sh -c)
}

export interface DriverStatus {
  id: string
  state: 'running' | 'stopped' | 'missing'
  pid?: number                  // sandbox: host pid of the machine's init
  startedAt?: string            // ISO-8601
  cpuSeconds?: number
  memoryBytes?: number
  diskBytes?: number
  limits?: { cgroup: 'v1' | 'v2' | 'none'; cpu?: number; memoryBytes?: number; pids?: number; note?: string }
}

export interface ExecOptions {
  argv: string[]                 // run as-is inside the machine (login shell when empty)
  env?: Record<string, string>
  tty?: { cols: number; rows: number; term: string }
  cwd?: string
}

/** What an empty ExecOptions.argv runs: bash as a login shell when the machine has it, else sh. */
export const LOGIN_SHELL: readonly string[] = ['/bin/sh', '-c', 'if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l']

/** A running process inside a machine: plain streams, so a transport can pipe them. */
export interface ExecProcess {
  stdin: NodeJS.WritableStream
  stdout: NodeJS.ReadableStream
  stderr: NodeJS.ReadableStream   // with tty: empty, output is all on stdout
  resize(cols: number, rows: number): void
  kill(signal?: NodeJS.Signals): void
  exited: Promise<{ code: number | null; signal: string | null }>
}

export interface Driver {
  readonly name: 'sandbox' | 'docker'
  /** Fails with a clear, actionable Error if the host cannot run this driver (no root/userns, no engine). */
  check(): Promise<void>
  create(spec: MachineSpec): Promise<void>        // allocates disk; does not start
  start(spec: MachineSpec): Promise<void>         // idempotent; resolves once the machine runs
  stop(id: string): Promise<void>                 // idempotent; keeps the disk
  remove(id: string): Promise<void>               // idempotent; deletes disk and everything
  rebuild(spec: MachineSpec): Promise<void>       // fresh root from the image, /root and /home kept (machine stopped)
  status(id: string): Promise<DriverStatus>
  exec(id: string, opts: ExecOptions): Promise<ExecProcess>
  /** A duplex stream to 127.0.0.1:port inside the machine (via the per-machine forwarder; never an IP). */
  connect(id: string, port: number): Promise<Duplex>
  /** Every machine id the driver knows of, for reconciliation (no orphans, no ghosts). */
  list(): Promise<string[]>
  /**
   * Optional: the host process whose network namespace is the machine's (sandbox: its init;
   * docker: the container's init), pid + start time. A host program joins it with
   * `nsenter --net=/proc/PID/ns/net` and reaches the machine's 127.0.0.1 without an IP address,
   * while sockets it inherits stay in the host's namespace: port forwards run their relays there,
   * so bulk bytes bypass boxd (src/ports/relays.ts). DriverError not_running when it is not
   * running. A driver without it is reached through connect() only.
   */
  netns?(id: string): Promise<ProcessRef>
}

/**
 * Why a driver call failed, so the machine service can map it to a CommandError code
 * (missing → not_found; exists/running/not_running → conflict; invalid → usage;
 * refused/unavailable → failed).
 */
export type DriverErrorReason = 'missing' | 'exists' | 'running' | 'not_running' | 'refused' | 'invalid' | 'unavailable'

export class DriverError extends Error {
  readonly reason: DriverErrorReason
  constructor(reason: DriverErrorReason, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'DriverError'
    this.reason = reason
  }
}
