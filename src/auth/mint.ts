// `boxd token mint`: the permission JSON from flags, signed on this machine with the user's own
// key (file via ssh-keygen, or ssh-agent). Offline: nothing is sent anywhere.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { CommandError, usage } from '../errors.js'
import { parseDuration } from '../registry/params.js'
import { signWithAgent, signWithKeyFile } from './sshsig-sign.js'
import { formatToken, tokenNamespace } from './token.js'

export interface MintClaims {
  exp?: number
  nbf?: number
  cmds?: string[]
  ctx?: unknown
  machines?: string[]
}

export interface Signer {
  /** A private key file (or a .pub whose key is in the agent), signed by ssh-keygen. */
  key?: string
  /** Sign through ssh-agent at this socket. With `key`, the agent key matching key(.pub) is used. */
  agentSocket?: string
}

/** The permission JSON, exactly as it will be signed: fixed member order, no whitespace. */
export function payloadJson(c: MintClaims): string {
  return JSON.stringify({ exp: c.exp, nbf: c.nbf, cmds: c.cmds, ctx: c.ctx, machines: c.machines })
}

/**
 * A time flag: "never" (undefined), a duration from now (30s, 10m, 2h, 7d), a unix time in
 * seconds, or an ISO-8601 date.
 */
export function parseTimeFlag(flag: string, raw: string, nowS: number): number | undefined {
  if (raw === 'never') return undefined
  if (/^\d{1,9}[smhdw]$/.test(raw)) return nowS + parseDuration(raw)
  if (/^\d{9,11}$/.test(raw)) return Number(raw)
  const t = Date.parse(raw)
  if (/^\d{4}-\d{2}-\d{2}/.test(raw) && !Number.isNaN(t)) return Math.floor(t / 1000)
  throw usage(`${flag}: expected a duration (10m, 2h, 30d), a unix time, an ISO date or "never", got "${raw.slice(0, 40)}"`)
}

/** `--cmds a,b` → ["a","b"]; an empty string is the explicit "nothing" ([]). */
export function parseCmds(raw: string): string[] {
  return raw.split(',').map((c) => c.trim().replace(/\s+/g, ' ')).filter(Boolean)
}

export function parseCtx(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    throw usage('--ctx must be JSON, e.g. --ctx \'{"ci":"deploy"}\'')
  }
}

/** ~/.ssh/id_ed25519, id_ecdsa, id_rsa: the first that exists (as the boxdtoken function does). */
export function defaultKeyFile(): string {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = join(homedir(), '.ssh', name)
    if (existsSync(p)) return p
  }
  throw usage('no SSH key found (looked for ~/.ssh/id_ed25519, id_ecdsa, id_rsa)', 'pass --key FILE, or --agent')
}

export async function mint(claims: MintClaims, domain: string, signer: Signer): Promise<string> {
  const payload = Buffer.from(payloadJson(claims))
  const namespace = tokenNamespace(domain)
  if (signer.agentSocket !== undefined) {
    const publicKey = signer.key === undefined ? undefined : publicBlobOf(signer.key)
    return formatToken(payload, await signWithAgent(payload, namespace, { socketPath: signer.agentSocket, publicKey }))
  }
  return formatToken(payload, await signWithKeyFile(payload, signer.key ?? defaultKeyFile(), namespace))
}

/** The wire blob of KEY.pub (or KEY itself when it is a .pub). */
function publicBlobOf(key: string): Buffer {
  const path = key.endsWith('.pub') ? key : `${key}.pub`
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    throw new CommandError('usage', `cannot read ${path}`, { hint: 'with --agent, --key names the public key of the agent key to use' })
  }
  const b64 = text.trim().split(/\s+/)[1]
  if (!b64) throw usage(`${path} is not a public key file`)
  return Buffer.from(b64, 'base64')
}
