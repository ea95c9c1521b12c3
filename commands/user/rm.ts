import { conflict } from '../../src/errors.js'
import { notSelf, targetUser } from '../../src/ops/user-admin.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user rm',
  summary: 'Delete an account with its machines, keys, tokens and webhooks (admins)',
  usage: 'user rm <email> [--yes]',
  description: 'Asks for --yes when the account still has machines (they are deleted, disks included). The audit trail is kept.',
  examples: ['user rm bob@example.com', 'user rm bob@example.com --yes'],
  args: { email: p.email({ description: 'the account' }) },
  flags: { yes: p.bool({ description: 'also delete the account\'s machines' }) },
  admin: true,
  mutates: true,
  async run({ args, flags }, ctx) {
    const u = targetUser(ctx, args.email)
    notSelf(ctx.principal, u, 'remove')
    const machines = ctx.store.machines.countForUser(u.id)
    if (machines > 0 && !flags.yes) {
      throw conflict(`${u.email} has ${machines} machine${machines === 1 ? '' : 's'}`, `\`user rm ${u.email} --yes\` deletes them too`)
    }
    // Lock the account first, so nothing new starts while its machines go.
    ctx.store.userAdmin.setStatus(u.id, 'disabled')
    // Machines through their service: driver resources go too, and each sends machine.deleted.
    const removed = await ctx.machines.removeAllFor(u.id)
    const keys = ctx.store.userAdmin.keyCount(u.id)
    return ctx.store.tx(() => {
      ctx.events.emit('user.removed', { user_id: u.id, email: u.email, by: ctx.principal.user.email }, { userId: u.id })
      ctx.store.userAdmin.delete(u.id)
      return { removed: u.email, user_id: u.id, machines_removed: removed, ssh_keys_removed: keys }
    })
  },
  human: (r) => `removed ${r.removed} (${r.machines_removed} machines, ${r.ssh_keys_removed} keys)`,
})
