import { changeUser, keepAnAdmin, notSelf, targetUser } from '../../src/ops/user-admin.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user disable',
  summary: 'Lock an account out at once: new logins, open sessions and tokens (admins)',
  usage: 'user disable <email>',
  examples: ['user disable bob@example.com'],
  args: { email: p.email({ description: 'the account' }) },
  admin: true,
  mutates: true,
  run({ args }, ctx) {
    const u = targetUser(ctx, args.email)
    notSelf(ctx.principal, u, 'disable')
    keepAnAdmin(ctx, u)
    return changeUser(ctx, ctx.principal, u, 'user.disabled', () => ctx.store.userAdmin.setStatus(u.id, 'disabled'))
  },
  human: (u) => `disabled ${u.email}`,
})
