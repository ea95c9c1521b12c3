import { forbidden } from '../../src/errors.js'
import { parseEventFilters } from '../../src/ops/webhooks.js'
import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'webhook add',
  summary: 'Deliver your events to a URL, signed with a shared secret',
  usage: 'webhook add <url> [--events a,b] [--secret S] [--all-users]',
  description: 'Each event is POSTed as JSON {id, type, created_at, data} with X-Boxd-Event, X-Boxd-Delivery and '
    + 'X-Boxd-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>. Without --secret one is generated and printed once '
    + '(it is the whole of stdout). Failed deliveries are retried with backoff for a day.',
  examples: ['webhook add https://ci.example.com/boxd', 'webhook add http://127.0.0.1:9000/hook --events machine.*,port.opened', 'S=$(ssh -p 2222 boxd.localhost webhook add https://hooks.example.com/x)'],
  args: { url: p.string({ description: 'http:// or https:// URL' }) },
  flags: {
    events: p.string({ optional: true, description: 'comma-separated event types or globs (default: every event)' }),
    secret: p.string({ optional: true, secret: true, description: 'the signing secret, 16–256 characters (default: generated)' }),
    allUsers: p.bool({ description: 'admins: receive every user\'s events, not just yours' }),
  },
  mutates: true,
  async run({ args, flags }, ctx) {
    if (flags.allUsers && ctx.principal.user.role !== 'admin') throw forbidden('--all-users is for admins')
    const r = await ctx.webhooks.add(ctx.principal.user.id, { url: args.url, events: parseEventFilters(flags.events), secret: flags.secret, allUsers: flags.allUsers })
    // The notice goes to the progress channel (stderr on a terminal) so stdout is the secret alone.
    if (r.generated) ctx.progress(`webhook ${r.webhook.id} → ${r.webhook.url}; its signing secret is shown once, below`)
    return { ...r.webhook, ...(r.generated ? { secret: r.secret } : {}) }
  },
  human: (r) => (r.secret !== undefined ? r.secret : `added webhook ${r.id} → ${r.url}`),
})
