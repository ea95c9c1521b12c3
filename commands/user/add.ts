import { createUser } from '../../src/auth/accounts.js'
import { usage } from '../../src/errors.js'
import { userView } from '../../src/ops/user-admin.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user add',
  summary: 'Create an account (admins)',
  usage: 'user add <email> [--key "PUBLIC-KEY" | --key -] [--admin]',
  description: 'With --key the account can log in at once; `--key -` reads the public key from stdin.',
  examples: ['cat bob.pub | ssh -p 2222 boxd.localhost user add bob@example.com --key -', 'user add ci@example.com --key "ssh-ed25519 AAAA… ci"'],
  args: { email: p.email({ description: 'the new user\'s email' }) },
  flags: {
    key: p.string({ optional: true, description: 'their SSH public key line, or - for stdin' }),
    admin: p.bool({ description: 'make the account an admin' }),
  },
  admin: true,
  mutates: true,
  async run({ args, flags }, ctx) {
    let keyText = flags.key
    if (keyText === '-') keyText = (await ctx.stdin())?.toString('utf8')
    if (keyText !== undefined && !keyText.trim()) throw usage('--key is empty', 'pass the public key line, or --key - with the key on stdin')
    return ctx.store.tx(() => {
      const u = createUser(ctx.store, ctx.clock, { email: args.email, role: flags.admin ? 'admin' : 'user', keyText })
      ctx.events.emit('user.created', { user_id: u.id, email: u.email, role: u.role, by: ctx.principal.user.email }, { userId: u.id })
      return userView(ctx, u)
    })
  },
  human: (u) => `created ${u.role} ${u.email} (${u.id})${u.ssh_keys ? '' : '; no key yet: they cannot log in until one is added'}`,
})
