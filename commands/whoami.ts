import { defineCommand } from '../src/registry/types.js'
import { keyView } from './ssh-key/list.js'

export default defineCommand({
  name: 'whoami',
  group: 'account',
  summary: 'Show your account and SSH keys',
  usage: 'whoami [--json]',
  examples: ['whoami', 'whoami --json | jq -r .email'],
  mutates: false,
  run(_input, ctx) {
    const { user, keyFingerprint } = ctx.principal
    return {
      email: user.email,
      role: user.role,
      user_id: user.id,
      ssh_keys: ctx.store.keys.listForUser(user.id).map((k) => keyView(k, keyFingerprint)),
    }
  },
  human: (r) => [`${r.email} (${r.role})`, ...r.ssh_keys.map((k) => `  ${k.current ? '*' : ' '} ${k.name}  ${k.fingerprint}`)].join('\n'),
})
