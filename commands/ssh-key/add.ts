import { addKey } from '../../src/auth/accounts.js'
import { usage } from '../../src/errors.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { keyView } from './list.js'

export default defineCommand({
  name: 'ssh-key add',
  summary: 'Register another SSH public key on your account',
  usage: 'ssh-key add [<public-key>…] [--name NAME]   (or the key on stdin)',
  description: 'The key may be given as arguments (quoted or not) or on stdin. Its name defaults to the key comment.',
  examples: ['ssh-key add "$(cat ~/.ssh/id_ed25519.pub)"', 'cat ~/.ssh/id_ed25519.pub | ssh -p 2222 boxd.localhost ssh-key add', 'ssh-key add ssh-ed25519 AAAAC3… --name laptop'],
  args: { publicKey: p.string({ repeatable: true, optional: true, description: 'the public key line (TYPE BASE64 [COMMENT])' }) },
  flags: { name: p.string({ optional: true, description: 'a name for the key (default: its comment)' }) },
  mutates: true,
  async run({ args, flags }, ctx) {
    let text = args.publicKey.join(' ')
    if (!text) text = (await ctx.stdin())?.toString('utf8') ?? ''
    if (!text.trim()) throw usage('no public key given', 'pass it as an argument or pipe it on stdin: cat ~/.ssh/id_ed25519.pub | ssh … ssh-key add')
    if (flags.name !== undefined) checkKeyName(flags.name)
    const user = ctx.store.users.get(ctx.principal.user.id)!
    // The key and its event commit together (webhooks hear of exactly the keys that exist).
    const row = ctx.store.tx(() => {
      const k = addKey(ctx.store, ctx.clock, user, text, flags.name)
      ctx.events.emit('ssh_key.added', { name: k.name, fingerprint: k.fingerprint }, { userId: user.id })
      return k
    })
    return keyView(row, ctx.principal.keyFingerprint)
  },
  human: (k) => `added key ${k.name} (${k.fingerprint})`,
})

export function checkKeyName(name: string): void {
  if (!/^[\w.@+-]{1,64}$/.test(name)) throw usage(`bad key name "${name.slice(0, 40)}"`, 'use 1–64 letters, digits and . _ @ + -')
}
