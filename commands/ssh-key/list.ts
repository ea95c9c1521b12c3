import { defineCommand } from '../../src/registry/types.js'
import { table, shortTime } from '../../src/registry/render.js'
import type { SshKeyRow } from '../../src/store/index.js'

export const keyView = (k: SshKeyRow, currentFp: string | null) => ({
  name: k.name,
  fingerprint: k.fingerprint,
  public_key: k.public_key,
  created_at: k.created_at,
  last_used_at: k.last_used_at,
  current: k.fingerprint === currentFp,
})

export default defineCommand({
  name: 'ssh-key list',
  summary: 'List your SSH keys',
  usage: 'ssh-key list [--json]',
  examples: ['ssh-key list', 'ssh-key list --json | jq -r \'.ssh_keys[].fingerprint\''],
  mutates: false,
  run(_input, ctx) {
    return { ssh_keys: ctx.store.keys.listForUser(ctx.principal.user.id).map((k) => keyView(k, ctx.principal.keyFingerprint)) }
  },
  human: (r) => table(r.ssh_keys, {
    name: (k) => `${k.name}${k.current ? ' *' : ''}`, fingerprint: (k) => k.fingerprint, type: (k) => k.public_key.split(' ')[0],
    added: (k) => shortTime(k.created_at), last_used: (k) => shortTime(k.last_used_at),
  }),
})
