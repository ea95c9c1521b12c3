import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'token revoke',
  summary: 'Revoke one of your boxd1 handles (the boxd0 it stands for is not affected)',
  usage: 'token revoke <boxd1-handle|id>',
  description: 'Give the handle itself or its id from `token ls`. To revoke a boxd0 token, remove the key that signed it (`ssh-key remove`).',
  examples: ['token revoke tok_k3jz5q2m4x7w6c2a', 'token revoke "$HANDLE"'],
  args: { handle: p.string({ secret: true, description: 'a boxd1 handle, or its id (tok_…) from `token ls`' }) },
  mutates: true,
  run({ args }, ctx) {
    return ctx.tokens.revoke(ctx.principal.user.id, args.handle)
  },
  human: (r) => `revoked ${r.revoked}`,
})
