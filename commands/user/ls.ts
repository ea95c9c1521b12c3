import { userView } from '../../src/ops/user-admin.js'
import { table, shortTime } from '../../src/registry/render.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'user ls',
  summary: 'List every account (admins)',
  usage: 'user ls [--json]',
  examples: ['user ls', 'user ls --json | jq -r \'.users[] | select(.active | not) | .email\''],
  admin: true,
  mutates: false,
  run(_input, ctx) {
    return { users: ctx.store.users.list().map((u) => userView(ctx, u)) }
  },
  human: (r) => table(r.users, {
    email: (u) => u.email, role: (u) => u.role, status: (u) => (u.status === 'active' && !u.active ? 'expired' : u.status),
    expires: (u) => shortTime(u.expires_at), keys: (u) => u.ssh_keys, machines: (u) => u.machines, created: (u) => shortTime(u.created_at),
  }),
})
