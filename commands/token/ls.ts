import { table, shortTime } from '../../src/registry/render.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'token ls',
  summary: 'List your boxd1 token handles',
  usage: 'token ls [--json]',
  examples: ['token ls', 'token ls --json | jq -r \'.tokens[].id\''],
  mutates: false,
  run(_input, ctx) {
    return { tokens: ctx.tokens.list(ctx.principal.user.id) }
  },
  human: (r) => table(r.tokens, {
    id: (t) => t.id, handle: (t) => t.prefix, key: (t) => t.key_fingerprint, cmds: (t) => (t.cmds === null ? '(read-only)' : t.cmds.join(',') || '(none)'),
    expires: (t) => shortTime(t.expires_at), last_used: (t) => shortTime(t.last_used_at),
  }),
})
