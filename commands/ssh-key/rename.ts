import { findKey } from '../../src/auth/accounts.js'
import { conflict } from '../../src/errors.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { checkKeyName } from './add.js'

export default defineCommand({
  name: 'ssh-key rename',
  summary: 'Rename one of your SSH keys',
  usage: 'ssh-key rename <old> <new>',
  examples: ['ssh-key rename key-1 laptop'],
  args: { old: p.string({ description: 'current name or fingerprint' }), new: p.string({ description: 'new name' }) },
  mutates: true,
  run({ args }, ctx) {
    const { store, principal } = ctx
    checkKeyName(args.new)
    const user = store.users.get(principal.user.id)!
    return store.tx(() => {
      const key = findKey(store, user, args.old)
      if (key.name !== args.new && store.keys.listForUser(user.id).some((k) => k.name === args.new)) {
        throw conflict(`you already have a key named "${args.new}"`)
      }
      store.keys.rename(key.id, args.new)
      return { name: args.new, old_name: key.name, fingerprint: key.fingerprint }
    })
  },
  human: (r) => `renamed key ${r.old_name} → ${r.name}`,
})
