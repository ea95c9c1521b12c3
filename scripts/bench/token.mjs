// token_verify_per_s: first-seen boxd0 verifications per second on one core, through the same
// TokenService.authenticate the HTTPS door calls (strict parse, SQLite key/user lookup, SSHSIG
// verify with node:crypto). Every token is distinct, so no per-token cache can help; the
// KeyObject cache per registered key is warm, as on a live server. Goal ≥ 5,000 (ed25519).
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'

const dist = new URL('../../dist/src/', import.meta.url)
const { createApp, resolveConfig } = await import(new URL('app.js', dist))
const { createUser } = await import(new URL('auth/accounts.js', dist))
const { publicKeyBlob, publicKeyText } = await import(new URL('auth/sshsig.js', dist))
const { mintToken } = await import(new URL('auth/token.js', dist))

export const title = 'first-seen token verifications per second, one core (distinct tokens)'

export async function run({ quick, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'boxd-bench-token-'))
  const app = createApp(resolveConfig({ dataDir: dir }), { log: pino({ level: 'silent' }) })
  try {
    const out = {}
    const kinds = [
      ['ed25519', () => generateKeyPairSync('ed25519'), 'token_verify_per_s', quick ? 5_000 : 20_000],
      ['ecdsa-p256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'token_verify_ecdsa_per_s', quick ? 2_000 : 5_000],
      ['rsa-3072', () => generateKeyPairSync('rsa', { modulusLength: 3072 }), 'token_verify_rsa_per_s', quick ? 2_000 : 5_000],
    ]
    for (const [name, make, key, n] of kinds) {
      const { privateKey } = make()
      createUser(app.services.store, app.services.clock, { email: `${name}@bench.example`, role: 'user', keyText: `${publicKeyText(publicKeyBlob(privateKey))} ${name}` })
      const ns = app.services.tokens.namespace
      const exp = Math.floor(Date.now() / 1000) + 3600
      // Distinct payloads (ctx differs), each signed once: every verification below is first-seen.
      const tokens = Array.from({ length: n }, (_, i) => mintToken(`{"exp":${exp},"cmds":["whoami"],"ctx":${i}}`, privateKey, ns))
      app.services.tokens.authenticate(tokens[0]) // warm: module JIT and the key cache
      const t0 = process.hrtime.bigint()
      for (let i = 1; i < n; i++) app.services.tokens.authenticate(tokens[i])
      const s = Number(process.hrtime.bigint() - t0) / 1e9
      out[key] = (n - 1) / s
      log(`   ${name}: ${n - 1} distinct tokens in ${s.toFixed(2)} s → ${Math.round(out[key])}/s (${((s / (n - 1)) * 1e6).toFixed(0)} µs each)`)
    }
    return out
  } finally {
    app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
