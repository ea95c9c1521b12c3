import { changeUser, keepAnAdmin, targetUser } from '../../src/ops/user-admin.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user set-role',
  summary: 'Make an account an admin, or a plain user (admins)',
  usage: 'user set-role <email> admin|user',
  examples: ['user set-role carol@example.com admin', 'user set-role bob@example.com user'],
  args: { email: p.email({ description: 'the account' }), role: p.choice(['admin', 'user'] as const)({ description: 'admin or user' }) },
  admin: true,
  mutates: true,
  run({ args }, ctx) {
    const u = targetUser(ctx, args.email)
    if (args.role === 'user') keepAnAdmin(ctx, u)
    return changeUser(ctx, ctx.principal, u, 'user.role_changed', () => ctx.store.userAdmin.setRole(u.id, args.role), { role: args.role, previous_role: u.role })
  },
  human: (u) => `${u.email} is now ${u.role === 'admin' ? 'an admin' : 'a user'}`,
})
