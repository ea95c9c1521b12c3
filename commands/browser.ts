import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'

export default defineCommand({
  name: 'browser',
  group: 'sharing',
  summary: 'Print a one-time sign-in link for a machine\'s web address (valid 15 minutes)',
  usage: 'browser <machine> [--port=P]',
  description: 'Opening the link signs this browser in to <machine>.<domain> (or <machine>-<P>.<domain>) '
    + 'with an HttpOnly session cookie for that hostname only; /__boxd/logout signs out. Works for '
    + 'machines you own and machines shared with you. The link is a secret: it is all that is printed.',
  examples: ['browser web', 'browser web --port 3000', 'xdg-open "$(ssh -p 2222 boxd.localhost browser web)"'],
  args: { machine: p.machine() },
  flags: { port: p.port({ optional: true, description: 'sign in to <machine>-<port>.<domain> instead' }) },
  mutates: true,
  run({ args, flags }, ctx) {
    const m = ctx.shares.reachable(ctx.principal, args.machine)
    return ctx.proxy.logins.createLink(ctx.principal.user.id, m, flags.port)
  },
  human: (r) => r.url,
})
