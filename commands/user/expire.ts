import { changeUser, keepAnAdmin, notSelf, targetUser } from '../../src/ops/user-admin.js'
import { expiryParam, futureTime } from '../../src/ops/time.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user expire',
  summary: 'Set when an account stops working, or `never` (admins)',
  usage: 'user expire <email> <time|never>',
  description: 'The time is ISO-8601 or relative from now (30d). At that moment the account is refused at both doors, mid-session too.',
  examples: ['user expire contractor@example.com 30d', 'user expire bob@example.com 2027-01-01', 'user expire bob@example.com never'],
  args: { email: p.email({ description: 'the account' }), when: expiryParam('a time (ISO-8601, or 7d from now) or never') },
  admin: true,
  mutates: true,
  run({ args }, ctx) {
    const u = targetUser(ctx, args.email)
    const at = args.when === null ? null : futureTime(args.when, ctx.clock.now()).toISOString()
    if (at !== null) {
      notSelf(ctx.principal, u, 'set an expiry on')
      keepAnAdmin(ctx, u)
    }
    return changeUser(ctx, ctx.principal, u, 'user.expiry_changed', () => ctx.store.userAdmin.setExpiry(u.id, at), { expires_at: at })
  },
  human: (u) => (u.expires_at ? `${u.email} expires ${u.expires_at}` : `${u.email} never expires`),
})
