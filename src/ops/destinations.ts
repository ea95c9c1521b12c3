// Where webhooks may point. URLs are http(s) only; with `--webhook-allow CIDR` the operator limits
// destinations, and every address the host resolves to must be inside an allowed range. The check
// runs inside the socket's DNS lookup, so the address checked is the address connected to (no
// DNS-rebinding gap between a check and the request).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { usage } from '../errors.js'

export class DestinationPolicy {
  private readonly allow?: BlockList

  /** Throws on a malformed CIDR: a bad allowlist is a wiring error, found at start. */
  constructor(readonly cidrs: readonly string[] = []) {
    if (cidrs.length === 0) return
    this.allow = new BlockList()
    for (const c of cidrs) {
      const m = /^([^/]+)\/(\d{1,3})$/.exec(c.trim())
      const family = m ? isIP(m[1]) : 0
      const prefix = m ? Number(m[2]) : -1
      if (!m || family === 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`--webhook-allow: "${c}" is not a CIDR (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`)
      this.allow.addSubnet(m[1], prefix, family === 4 ? 'ipv4' : 'ipv6')
    }
  }

  get restricted(): boolean {
    return this.allow !== undefined
  }

  allowed(address: string): boolean {
    if (!this.allow) return true
    // ::ffff:10.0.0.1 is 10.0.0.1: check the IPv4 form too, so a mapped address cannot slip past.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
    const family = isIP(mapped ?? address)
    if (family === 0) return false
    return this.allow.check(mapped ?? address, family === 4 ? 'ipv4' : 'ipv6')
  }

  /** Parse and check a webhook URL's form (not its addresses). Throws `usage`. */
  parseUrl(raw: string): URL {
    let u: URL
    try {
      u = new URL(raw)
    } catch {
      throw usage(`"${raw.slice(0, 60)}" is not a URL`, 'use http://host[:port]/path or https://…')
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usage(`webhook URLs must be http or https, not ${u.protocol.replace(':', '')}`)
    if (u.username || u.password) throw usage('webhook URLs may not carry user:password@', 'authenticate the sender by the X-Boxd-Signature header instead')
    if (!u.hostname) throw usage('webhook URL has no host')
    if (raw.length > 2048) throw usage('webhook URL is longer than 2048 characters')
    u.hash = ''
    return u
  }

  /** Every address the URL's host resolves to must be allowed. Throws `usage` naming the host only. */
  async checkUrl(u: URL): Promise<void> {
    if (!this.allow) return
    const host = u.hostname.replace(/^\[|\]$/g, '')
    const addrs = isIP(host) ? [host] : await resolveAll(host).catch(() => { throw usage(`cannot resolve ${host}`) })
    if (addrs.length === 0 || !addrs.every((a) => this.allowed(a))) {
      throw usage(`${host} is outside the destinations this server allows`, `the operator allows: ${this.cidrs.join(', ')}`)
    }
  }

  /** A `lookup` for http.request: resolves, and fails the connection unless every address is allowed. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      const bad = addresses.find((a) => !this.allowed(a.address))
      if (bad || addresses.length === 0) {
        const e = Object.assign(new Error(`destination ${hostname} is not allowed by --webhook-allow`), { code: 'EDESTINATION' })
        return callback(e, '', 0)
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
      return callback(null, addresses[0].address, addresses[0].family)
    })
  }
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((res, rej) => dnsLookup(host, { all: true }, (err, addrs) => (err ? rej(err) : res(addrs.map((a) => a.address)))))
}
