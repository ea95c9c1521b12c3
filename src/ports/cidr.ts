// Source allow-lists for port forwards (`port open --to CIDR`), matched with node's BlockList.
import { BlockList, isIP } from 'node:net'
import type { Param } from '../registry/params.js'
import { clip } from '../registry/params.js'

/** Everyone: the default when no --to is given (both address families). */
export const ALLOW_ALL: readonly string[] = ['0.0.0.0/0', '::/0']

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (= one host) → canonical "addr/prefix". */
export function parseCidr(raw: string): string {
  const s = raw.trim().toLowerCase()
  const slash = s.indexOf('/')
  const addr = slash < 0 ? s : s.slice(0, slash)
  // Zone ids (fe80::1%eth0) name an interface, not a source: never part of an allow-list.
  const family = addr.includes('%') ? 0 : isIP(addr)
  if (family === 0) throw new Error(`"${clip(raw)}" is not an IP address or CIDR (like 10.0.0.0/8 or 2001:db8::/32)`)
  const max = family === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(max) : s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw new Error(`"${clip(raw)}": the prefix length must be 0 to ${max}`)
  return `${addr}/${Number(prefixText)}`
}

/** A repeatable `--to` flag (typed 'cidr', so help and bindings say what it takes). */
export function cidrFlag(description: string): Param<string[]> {
  return { type: 'cidr', description, optional: true, repeatable: true, machine: false, secret: false, parse: parseCidr }
}

/** A compiled allow-list: `allows(remoteAddress)` for each accepted connection. */
export class AllowList {
  private readonly list = new BlockList()
  constructor(readonly cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, prefix] = parseCidr(c).split('/')
      this.list.addSubnet(addr, Number(prefix), isIP(addr) === 4 ? 'ipv4' : 'ipv6')
    }
  }

  allows(remote: string | undefined): boolean {
    if (!remote) return false
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; they are matched as IPv4, so
    // `--to 10.0.0.0/8` means the same whatever address the listener is bound to.
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote)
    const addr = mapped ? mapped[1] : remote
    const family = isIP(addr)
    if (family === 0) return false
    return this.list.check(addr, family === 4 ? 'ipv4' : 'ipv6')
  }
}
