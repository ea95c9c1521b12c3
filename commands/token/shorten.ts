import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'token shorten',
  summary: 'Trade a boxd0 token you signed for a short boxd1 handle',
  usage: 'token shorten <boxd0-token>',
  description: 'The handle stands for the token: it has the same permissions and expiry, is checked again on every use, '
    + 'and dies with the token (expiry, key removal, `token revoke`). The same token always gives the same handle.',
  examples: ['token shorten "$(boxdtoken \'{"cmds":["ls"]}\')"', 'token shorten boxd0.eyJjbWRzIjpbImxzIl19.U1NIU0lH… --json | jq -r .token'],
  args: { token: p.string({ secret: true, description: 'a boxd0 token signed by one of your keys' }) },
  // It stores a row, but grants nothing the caller does not already hold: the default read-only
  // token set includes it so a fresh `{}` token can shorten itself.
  mutates: false,
  run({ args }, ctx) {
    return ctx.tokens.shorten(ctx.principal, args.token)
  },
  // The handle is a secret: it is the whole of stdout.
  human: (r) => r.token,
})
