// Which machine a Host header names: `<m>.<domain>` → the machine's proxy port,
// `<m>-<port>.<domain>` → that port. Anything else is the API's.
import { MACHINE_NAME_RE } from '../registry/params.js'

export interface ProxyTarget {
  machine: string
  /** Explicit port from `<m>-<port>.<domain>`; undefined = the machine's proxy port. */
  port?: number
  /** The hostname as the client wrote it, lowercased, without the port. */
  hostname: string
}

export function parseMachineHost(host: string | undefined, domain: string): ProxyTarget | undefined {
  if (!host) return undefined
  const hostname = stripPort(host.trim().toLowerCase()).replace(/\.$/, '')
  const suffix = `.${domain}`
  if (!hostname.endsWith(suffix)) return undefined
  const label = hostname.slice(0, -suffix.length)
  // One label only: a.b.<domain> is not a machine (and never reaches one).
  if (!MACHINE_NAME_RE.test(label)) return undefined
  // Machine names never end in -<digits> (src/machines/names.ts), so this split is unambiguous.
  const m = /^(.+)-(\d{1,5})$/.exec(label)
  if (m) {
    const port = Number(m[2])
    if (port < 1 || port > 65535 || m[2].startsWith('0')) return undefined
    return { machine: m[1], port, hostname }
  }
  return { machine: label, hostname }
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host // an IPv6 literal is never a machine host
  const i = host.lastIndexOf(':')
  return i < 0 ? host : host.slice(0, i)
}
