import { changeUser, targetUser } from '../../src/ops/user-admin.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user enable',
  summary: 'Let a disabled account log in again (admins)',
  usage: 'user enable <email>',
  examples: ['user enable bob@example.com'],
  args: { email: p.email({ description: 'the account' }) },
  admin: true,
  mutates: true,
  run({ args }, ctx) {
    const u = targetUser(ctx, args.email)
    return changeUser(ctx, ctx.principal, u, 'user.enabled', () => ctx.store.userAdmin.setStatus(u.id, 'active'))
  },
  // Enabled but past its expiry is still locked out: say so.
  human: (u) => `enabled ${u.email}${u.active ? '' : ` (but it expired ${u.expires_at}: user expire ${u.email} never)`}`,
})
