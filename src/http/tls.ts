// The HTTPS door's certificate: the operator's (--tls-cert/--tls-key), or a self-signed one made
// in the data dir on first start and reused after (so its fingerprint, once pinned, stays put).
// Made with `selfsigned` (WebCrypto + @peculiar/x509): no openssl binary is assumed.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import { CommandError } from '../errors.js'
import type { Config } from '../services.js'

export interface TlsMaterial {
  cert: string
  key: string
  certPath: string
  keyPath: string
  /** SHA-256 of the certificate, colon-separated hex (as browsers and `openssl x509 -fingerprint` show it). */
  fingerprint: string
  selfSigned: boolean
  /** Made during this start. */
  created: boolean
}

const VALID_DAYS = 825

export async function loadTls(config: Config): Promise<TlsMaterial> {
  if (config.tlsCert !== undefined || config.tlsKey !== undefined) {
    if (config.tlsCert === undefined || config.tlsKey === undefined) throw new CommandError('usage', '--tls-cert and --tls-key go together')
    const cert = readPem(config.tlsCert, '--tls-cert')
    const key = readPem(config.tlsKey, '--tls-key')
    const x509 = check(cert, key, config.tlsCert)
    return { cert, key, certPath: config.tlsCert, keyPath: config.tlsKey, fingerprint: x509.fingerprint256, selfSigned: false, created: false }
  }
  const dir = join(config.dataDir, 'tls')
  const certPath = join(dir, 'cert.pem')
  const keyPath = join(dir, 'key.pem')
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readPem(certPath, 'the certificate')
    const key = readPem(keyPath, 'the certificate key')
    const x509 = check(cert, key, certPath)
    // An expired self-signed certificate is replaced; anyone who pinned it sees the new fingerprint in the banner.
    if (new Date(x509.validTo) > new Date()) return { cert, key, certPath, keyPath, fingerprint: x509.fingerprint256, selfSigned: true, created: false }
  }
  const made = await selfSigned(config.domain)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeAtomic(keyPath, made.key, 0o600)
  writeAtomic(certPath, made.cert, 0o644)
  return { ...made, certPath, keyPath, fingerprint: new X509Certificate(made.cert).fingerprint256, selfSigned: true, created: true }
}

async function selfSigned(domain: string): Promise<{ cert: string; key: string }> {
  const now = new Date()
  const pems = await generate([{ name: 'commonName', value: domain }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      // The API domain, its machines (<name>.<domain>) and loopback, where boxd listens by default.
      { name: 'subjectAltName', altNames: [
        { type: 2, value: domain }, { type: 2, value: `*.${domain}` }, { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' },
      ] },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new CommandError('usage', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

function check(cert: string, key: string, certPath: string): X509Certificate {
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch {
    throw new CommandError('usage', `${certPath} is not a PEM certificate`)
  }
  let ok = false
  try {
    ok = x509.checkPrivateKey(createPrivateKey(key))
  } catch {
    throw new CommandError('usage', `the key for ${certPath} is not a PEM private key (an encrypted key is not supported)`)
  }
  if (!ok) throw new CommandError('usage', `the private key does not belong to the certificate ${certPath}`)
  return x509
}

function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, data, { mode })
  renameSync(tmp, path)
}
