import { findKey } from '../../src/auth/accounts.js'
import { conflict } from '../../src/errors.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'ssh-key remove',
  summary: 'Remove one of your SSH keys (revokes every token it signed)',
  usage: 'ssh-key remove <name|fingerprint|public-key>',
  examples: ['ssh-key remove laptop', 'ssh-key remove SHA256:+2Cz0F0F3eh2uD7mgRHT24Mr8MZ2AnsCfFmt0O1y+HE'],
  args: { key: p.string({ repeatable: true, description: 'the key\'s name, SHA256 fingerprint or public key' }) },
  mutates: true,
  run({ args }, ctx) {
    const { store, clock, principal } = ctx
    const user = store.users.get(principal.user.id)!
    return store.tx(() => {
      const key = findKey(store, user, args.key.join(' '))
      if (store.keys.listForUser(user.id).length === 1) {
        throw conflict('that is your last key: removing it would lock you out', 'add another key first with `ssh-key add`')
      }
      store.keys.markRemoved(key.id, clock.now())
      ctx.events.emit('ssh_key.removed', { name: key.name, fingerprint: key.fingerprint }, { userId: user.id })
      return { removed: key.name, fingerprint: key.fingerprint }
    })
  },
  human: (r) => `removed key ${r.removed} (${r.fingerprint})`,
})
