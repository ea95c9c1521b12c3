// The Docker driver: one container per machine, through the Engine API on its unix socket.
//
// Containers are named boxd-<id> and labelled boxd.id / boxd.name; PID 1 is Docker's init
// (tini, Init: true) running the machine's command or a sleep. Network reach uses the same
// forwarder program as the sandbox, joined to the container's network namespace with nsenter
// (no container IP is ever used): it needs boxd on the Docker host, as root.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough, type Duplex } from 'node:stream'
import Docker from 'dockerode'
import {
  DriverError, LOGIN_SHELL, type Driver, type DriverStatus, type ExecOptions, type ExecProcess, type MachineSpec,
} from '../driver.js'
import { dialWithRespawn, spawnForwarder } from '../forwarder/client.js'
import { isAlive, refOf, signalRef, type ProcessRef } from '../forwarder/host-process.js'
import { writeForwarderScript } from '../forwarder/script.js'

export interface DockerDriverOptions {
  /** Engine socket (default /var/run/docker.sock). */
  socketPath?: string
  /** Image for machines whose spec.image is empty or 'host'. */
  defaultImage: string
  /** Where forwarder sockets and state live: <dataDir>/docker/<id>/ (default: a 0700 dir under the OS temp dir). */
  dataDir?: string
  /** Seconds Docker waits after SIGTERM before SIGKILL on stop (default 3). */
  stopTimeoutSec?: number
}

const LABEL_ID = 'boxd.id'
const LABEL_NAME = 'boxd.name'
const DEFAULT_PIDS = 512
/** Keeps a container up without a command; sh is PID 1's child, so SIGTERM ends it at once. */
const IDLE_CMD = ['/bin/sh', '-c', 'while :; do sleep 2147483647; done']
const KEPT_ON_REBUILD = ['/root', '/home']

interface ForwarderState { forwarder: ProcessRef; target: ProcessRef }

export class DockerDriver implements Driver {
  readonly name = 'docker' as const
  private readonly docker: Docker
  private readonly socketPath: string
  private readonly defaultImage: string
  private readonly stateDir: string
  private readonly stopTimeoutSec: number

  constructor(opts: DockerDriverOptions) {
    if (!opts?.defaultImage) throw new Error('DockerDriver: defaultImage is required')
    this.socketPath = opts.socketPath ?? '/var/run/docker.sock'
    this.docker = new Docker({ socketPath: this.socketPath })
    this.defaultImage = opts.defaultImage
    this.stateDir = opts.dataDir ? path.join(path.resolve(opts.dataDir), 'docker') : path.join(os.tmpdir(), `boxd-docker-${process.getuid?.() ?? 0}`)
    this.stopTimeoutSec = opts.stopTimeoutSec ?? 3
  }

  async check(): Promise<void> {
    try {
      await withTimeout(this.docker.ping(), 5000, 'ping')
    } catch (e) {
      throw new Error(`docker driver: no Docker engine answers at ${this.socketPath} (${(e as Error).message}); `
        + 'start dockerd (e.g. dockerd --storage-driver=vfs --iptables=false --bridge=none) or pass the right socket')
    }
  }

  private container(id: string): Docker.Container {
    assertId(id)
    return this.docker.getContainer(`boxd-${id}`)
  }

  private imageOf(spec: MachineSpec): string {
    return spec.image && spec.image !== 'host' ? spec.image : this.defaultImage
  }

  async create(spec: MachineSpec): Promise<void> {
    assertId(spec.id)
    const image = this.imageOf(spec)
    try {
      await this.docker.getImage(image).inspect()
    } catch {
      throw new DriverError('invalid', `docker image ${image} is not present on the engine (docker pull / docker import it)`)
    }
    try {
      await this.docker.createContainer({
        name: `boxd-${spec.id}`,
        Hostname: spec.name,
        Image: image,
        Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
        Cmd: spec.command ? ['/bin/sh', '-c', spec.command] : IDLE_CMD,
        Labels: { [LABEL_ID]: spec.id, [LABEL_NAME]: spec.name },
        HostConfig: { Init: true, NetworkMode: spec.network === 'host' ? 'host' : 'none', RestartPolicy: { Name: 'no' }, ...limits(spec) },
      })
    } catch (e) {
      if (statusOf(e) === 409) throw new DriverError('exists', `machine ${spec.id} already exists`)
      throw e
    }
  }

  async start(spec: MachineSpec): Promise<void> {
    const c = this.container(spec.id)
    const info = await this.inspect(spec.id)
    const want = limits(spec)
    const have = info.HostConfig
    if (have.NanoCpus !== want.NanoCpus || have.Memory !== want.Memory || have.PidsLimit !== want.PidsLimit) {
      await c.update(want)
    }
    try {
      await c.start()
    } catch (e) {
      if (statusOf(e) !== 304) throw e        // 304: already running
    }
  }

  async stop(id: string): Promise<void> {
    try {
      await this.container(id).stop({ t: this.stopTimeoutSec })
    } catch (e) {
      if (statusOf(e) !== 304 && statusOf(e) !== 404) throw e
    }
    this.stopForwarder(id)
  }

  async remove(id: string): Promise<void> {
    assertId(id)
    // Every container labelled with the id: a rebuild interrupted by a crash leaves a renamed one.
    const all = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_ID}=${id}`] } })
    for (const c of all) {
      try {
        await this.docker.getContainer(c.Id).remove({ force: true, v: true })
      } catch (e) {
        if (statusOf(e) !== 404) throw e
      }
    }
    this.stopForwarder(id)
    fs.rmSync(path.join(this.stateDir, id), { recursive: true, force: true })
  }

  /** New container from the image; /root and /home are copied over from the old one. */
  async rebuild(spec: MachineSpec): Promise<void> {
    const info = await this.inspect(spec.id)
    if (info.State.Running) throw new DriverError('running', `machine ${spec.id} is running: stop it before rebuild`)
    const old = this.docker.getContainer(info.Id)     // by id: the name moves to the new container
    const aside = `boxd-${spec.id}-rebuild-${Date.now()}`
    await old.rename({ name: aside })
    try {
      await this.create(spec)
    } catch (e) {
      await old.rename({ name: `boxd-${spec.id}` })
      throw e
    }
    const fresh = this.container(spec.id)
    for (const dir of KEPT_ON_REBUILD) {
      let archive: NodeJS.ReadableStream
      try {
        archive = await old.getArchive({ path: dir })
      } catch (e) {
        if (statusOf(e) === 404) continue            // the old machine had no such dir
        throw e
      }
      await fresh.putArchive(archive, { path: path.dirname(dir) })
    }
    await old.remove({ force: true, v: true })
  }

  async status(id: string): Promise<DriverStatus> {
    let info: Docker.ContainerInspectInfo
    try {
      info = await this.container(id).inspect({ size: true } as Docker.ContainerInspectOptions)
    } catch (e) {
      if (statusOf(e) === 404) return { id, state: 'missing' }
      throw e
    }
    const hc = info.HostConfig
    const cgroup = (await this.cgroupVersion()) ?? 'none'
    const base: DriverStatus = {
      id,
      state: info.State.Running ? 'running' : 'stopped',
      diskBytes: (info as { SizeRw?: number }).SizeRw,
      limits: {
        cgroup,
        cpu: hc.NanoCpus ? hc.NanoCpus / 1e9 : undefined,
        memoryBytes: hc.Memory || undefined,
        pids: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
      },
    }
    if (!info.State.Running) return base
    const stats = await this.container(id).stats({ stream: false, 'one-shot': true }).catch(() => undefined)
    return {
      ...base,
      pid: info.State.Pid,
      startedAt: new Date(info.State.StartedAt).toISOString(),
      cpuSeconds: stats ? stats.cpu_stats.cpu_usage.total_usage / 1e9 : undefined,
      memoryBytes: stats?.memory_stats?.usage,
    }
  }

  private cgroupVersionCache?: Promise<'v1' | 'v2' | undefined>
  private cgroupVersion(): Promise<'v1' | 'v2' | undefined> {
    this.cgroupVersionCache ??= this.docker.info()
      .then((i: { CgroupVersion?: string }) => (i.CgroupVersion === '2' ? 'v2' as const : i.CgroupVersion === '1' ? 'v1' as const : undefined))
      .catch(() => undefined)
    return this.cgroupVersionCache
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecProcess> {
    const info = await this.inspect(id)
    if (!info.State.Running) throw new DriverError('not_running', `machine ${id} is not running`)
    const tty = opts.tty
    const env = Object.entries({ HOME: '/root', ...(tty ? { TERM: tty.term || 'xterm' } : {}), ...opts.env }).map(([k, v]) => `${k}=${v}`)
    const argv = opts.argv.length ? opts.argv : [...LOGIN_SHELL]
    const exec = await this.container(id).exec({
      // Engines before API 1.42 cannot size an exec's terminal before it starts (resize comes
      // after start, racing the program): set the size from inside, then exec the real argv.
      Cmd: tty ? ['/bin/sh', '-c', `stty cols ${dim(tty.cols)} rows ${dim(tty.rows)} 2>/dev/null; exec "$@"`, 'sh', ...argv] : argv,
      ConsoleSize: tty ? [tty.rows, tty.cols] : undefined,
      AttachStdin: true, AttachStdout: true, AttachStderr: true,
      Tty: !!tty, Env: env, WorkingDir: opts.cwd || undefined,
    })
    const stream = await exec.start({ hijack: true, stdin: true, Tty: !!tty })
    if (tty) await exec.resize({ h: tty.rows, w: tty.cols }).catch(() => undefined)
    return wrapExec(this.docker, exec, stream, !!tty)
  }

  /** The container's init (its network namespace), checked to really be this container's. */
  async netns(id: string): Promise<ProcessRef> {
    const info = await this.inspect(id)
    if (!info.State.Running) throw new DriverError('not_running', `machine ${id} is not running`)
    const target = containerProcess(info.State.Pid, info.Id)
    if (!target || process.getuid?.() !== 0) {
      throw new DriverError('unavailable', 'reaching a docker machine joins the container network namespace with nsenter: '
        + 'boxd must run as root on the Docker host')
    }
    return target
  }

  async connect(id: string, port: number): Promise<Duplex> {
    const target = await this.netns(id)
    const dir = path.join(this.stateDir, id)
    const stateFile = path.join(dir, 'forwarder.json')
    const sockPath = path.join(dir, 'fwd.sock')
    const current = readState(stateFile)
    // A forwarder bound to a previous run of the container sits in a dead network namespace.
    const valid = current && current.target.pid === target.pid && current.target.startTime === target.startTime ? current : undefined
    if (current && !valid) signalRef(current.forwarder, 'SIGTERM')
    return dialWithRespawn({
      sockPath, port, forwarder: valid?.forwarder,
      start: () => {
        const again = readState(stateFile)
        if (again && again.target.startTime === target.startTime && again.target.pid === target.pid && isAlive(again.forwarder)) return again.forwarder
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
        const script = writeForwarderScript(this.stateDir)
        const forwarder = spawnForwarder({ nsenter: 'nsenter', node: process.execPath, script, sockPath, target, logFile: path.join(dir, 'forwarder.log') })
        fs.writeFileSync(stateFile, JSON.stringify({ forwarder, target } satisfies ForwarderState), { mode: 0o600 })
        return forwarder
      },
    })
  }

  async list(): Promise<string[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [LABEL_ID] } })
    return [...new Set(containers.map((c) => c.Labels[LABEL_ID]).filter((id): id is string => !!id))].sort()
  }

  private async inspect(id: string): Promise<Docker.ContainerInspectInfo> {
    try {
      return await this.container(id).inspect()
    } catch (e) {
      if (statusOf(e) === 404) throw new DriverError('missing', `no machine ${id}`)
      throw e
    }
  }

  private stopForwarder(id: string): void {
    const state = readState(path.join(this.stateDir, id, 'forwarder.json'))
    signalRef(state?.forwarder, 'SIGTERM')
  }
}

function limits(spec: MachineSpec): { NanoCpus: number; Memory: number; MemorySwap: number; PidsLimit: number } {
  const memory = spec.memoryBytes ?? 0
  return {
    NanoCpus: spec.cpu ? Math.round(spec.cpu * 1e9) : 0,
    Memory: memory,
    MemorySwap: memory ? memory : 0,        // no swap beyond the memory limit (0 = engine default when unlimited)
    PidsLimit: spec.pids ?? DEFAULT_PIDS,
  }
}

/** Plain streams over a hijacked exec connection; exit code from exec inspect once it ends. */
function wrapExec(docker: Docker, exec: Docker.Exec, stream: Duplex, tty: boolean): ExecProcess {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  if (tty) {
    stream.pipe(stdout)
    stderr.end()
  } else {
    docker.modem.demuxStream(stream, stdout, stderr)
    stream.once('end', () => { stdout.end(); stderr.end() })
  }
  stream.on('error', () => { stdout.end(); stderr.end() })
  const stdin = new PassThrough()
  stdin.pipe(stream)     // ending stdin half-closes the connection: the process sees EOF
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    stream.once('close', async () => {
      // The stream can close a moment before the engine records the exit code.
      for (let i = 0; i < 100; i++) {
        const info = await exec.inspect().catch(() => undefined)
        if (!info || !info.Running) return resolve({ code: info?.ExitCode ?? null, signal: null })
        await new Promise((r) => setTimeout(r, 20))
      }
      resolve({ code: null, signal: null })
    })
  })
  return {
    stdin,
    stdout,
    stderr,
    resize: (cols, rows) => { if (tty) exec.resize({ h: rows, w: cols }).catch(() => undefined) },
    // The Engine API cannot signal an exec; on the Docker host its pid is ours to signal
    // (only after checking that the pid really is in this container: see containerProcess).
    kill: (signal = 'SIGTERM') => {
      exec.inspect().then((info) => {
        const ref = containerProcess(info.Pid, info.ContainerID)
        try {
          if (!ref) throw new Error('not ours')
          process.kill(ref.pid, signal)
        } catch {
          stream.destroy()
        }
      }, () => stream.destroy())
    },
    exited,
  }
}

/** A terminal dimension as a safe integer for the stty command line. */
const dim = (n: number) => Math.min(10_000, Math.max(1, Math.floor(Number(n)) || 1))

/**
 * The engine reports host pids. When boxd runs in another pid namespace (in a container, or
 * talking to a remote engine) the same number names an unrelated local process: joining its
 * network namespace or signalling it would reach the wrong thing. A pid is accepted only when
 * its cgroup path carries the container id (true for cgroupfs and systemd cgroup drivers).
 */
function containerProcess(pid: number, containerId: string): ProcessRef | undefined {
  if (!pid || !containerId) return undefined
  try {
    if (!fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerId)) return undefined
  } catch {
    return undefined
  }
  return refOf(pid)
}

function readState(file: string): ForwarderState | undefined {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')) as ForwarderState } catch { return undefined }
}

function assertId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(id)) throw new DriverError('invalid', `invalid machine id ${JSON.stringify(id)}`)
}

function statusOf(e: unknown): number | undefined {
  return (e as { statusCode?: number }).statusCode
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    p.then((v) => { clearTimeout(t); resolve(v) }, (e) => { clearTimeout(t); reject(e) })
  })
}
