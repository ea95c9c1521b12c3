// startHttpServers: which listeners start for which flags, the first-start self-signed
// certificate (made without openssl, reused after), and operator certificates.
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { generate } from 'selfsigned'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import { startHttpServers } from '../../src/http/server.js'
import type { Config } from '../../src/services.js'

let dir: string
const apps: App[] = []
const open = (o: Partial<Config>) => {
  const app = createApp(resolveConfig({ dataDir: dir, listen: '127.0.0.1', ...o }), { log: pino({ level: 'silent' }) })
  apps.push(app)
  return app
}
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'boxd-https-')) })
afterEach(() => {
  for (const a of apps.splice(0)) a.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The certificate the server presents, and the /healthz body. */
function peer(port: number, ca?: string): Promise<{ cert: X509Certificate; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: ca !== undefined, ca, servername: 'localhost' }, (res) => {
      const cert = new X509Certificate((res.socket as import('node:tls').TLSSocket).getPeerCertificate().raw)
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve({ cert, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('listeners', () => {
  it('only --http-port given → only plain HTTP', async () => {
    const door = await startHttpServers(open({ httpPort: 0 }))
    try {
      expect(door.ports.https).toBeUndefined()
      expect(door.ports.http).toBeGreaterThan(0)
      const res = await fetch(`http://127.0.0.1:${door.ports.http}/healthz`)
      expect(typeof (await res.json()).status).toBe('string')
      expect(door.banner.join('\n')).toContain(`http://127.0.0.1:${door.ports.http}/exec`)
    } finally {
      await door.close()
    }
  })

  it('both ports → both listeners; the banner names the bound ports and the certificate', async () => {
    const door = await startHttpServers(open({ httpPort: 0, httpsPort: 0 }))
    try {
      expect(door.ports.https).toBeGreaterThan(0)
      expect(door.ports.http).toBeGreaterThan(0)
      const banner = door.banner.join('\n')
      expect(banner).toContain(`https://127.0.0.1:${door.ports.https}/exec`)
      expect(banner).toContain(door.tls!.fingerprint)
      expect(banner).toContain(join(dir, 'tls', 'cert.pem'))
    } finally {
      await door.close()
    }
  })

  it('a port in use → a clear error, and nothing left listening', async () => {
    const first = await startHttpServers(open({ httpPort: 0 }))
    try {
      await expect(startHttpServers(open({ httpsPort: 0, httpPort: first.ports.http }))).rejects.toThrow(/--http-port \d+: address .* already in use/)
    } finally {
      await first.close()
    }
  })
})

describe('self-signed certificate', () => {
  it('is made on first start (EC, SANs for the domain, its machines and loopback; key 0600) and reused after', async () => {
    const d1 = await startHttpServers(open({ httpsPort: 0, domain: 'boxd.localhost' }))
    const certPem = readFileSync(join(dir, 'tls', 'cert.pem'), 'utf8')
    try {
      expect(d1.tls?.created).toBe(true)
      expect(statSync(join(dir, 'tls', 'key.pem')).mode & 0o777).toBe(0o600)
      const x = new X509Certificate(certPem)
      expect(x.subjectAltName).toContain('DNS:boxd.localhost')
      expect(x.subjectAltName).toContain('DNS:*.boxd.localhost')
      expect(x.subjectAltName).toContain('IP Address:127.0.0.1')
      expect(x.publicKey.asymmetricKeyType).toBe('ec')
      // The server presents it, and a client that trusts exactly it (curl --cacert) verifies.
      const { cert, body } = await peer(d1.ports.https!, certPem)
      expect(cert.fingerprint256).toBe(d1.tls!.fingerprint)
      expect(typeof JSON.parse(body).status).toBe('string')
    } finally {
      await d1.close()
    }
    const d2 = await startHttpServers(open({ httpsPort: 0 }))
    try {
      expect(d2.tls?.created).toBe(false)
      expect(d2.tls?.fingerprint).toBe(d1.tls?.fingerprint)
    } finally {
      await d2.close()
    }
  })
})

describe('--tls-cert / --tls-key', () => {
  it('serves the operator\'s certificate', async () => {
    const pems = await generate([{ name: 'commonName', value: 'api.example.com' }], { keyType: 'ec', algorithm: 'sha256' })
    writeFileSync(join(dir, 'c.pem'), pems.cert)
    writeFileSync(join(dir, 'k.pem'), pems.private)
    const door = await startHttpServers(open({ httpsPort: 0, tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'k.pem') }))
    try {
      expect(door.tls?.selfSigned).toBe(false)
      const { cert } = await peer(door.ports.https!)
      expect(cert.subject).toContain('api.example.com')
    } finally {
      await door.close()
    }
  })

  it.each([
    ['only --tls-cert', (d: string) => ({ tlsCert: join(d, 'c.pem') }), /go together/],
    ['a missing file', (d: string) => ({ tlsCert: join(d, 'nope.pem'), tlsKey: join(d, 'k.pem') }), /cannot read/],
    ['a key of another certificate', (d: string) => ({ tlsCert: join(d, 'c.pem'), tlsKey: join(d, 'other.pem') }), /does not belong/],
  ])('%s → a clear error', async (_n, cfg, re) => {
    const a = await generate(null, { keyType: 'ec' })
    const b = await generate(null, { keyType: 'ec' })
    writeFileSync(join(dir, 'c.pem'), a.cert)
    writeFileSync(join(dir, 'k.pem'), a.private)
    writeFileSync(join(dir, 'other.pem'), b.private)
    await expect(startHttpServers(open({ httpsPort: 0, ...cfg(dir) }))).rejects.toThrow(re)
  })
})
