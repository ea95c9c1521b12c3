import { usage } from '../src/errors.js'
import { eventView, type EventView } from '../src/ops/events.js'
import { listingScope, machineFilterParam, machineVisible } from '../src/ops/scope.js'
import { pastTime, timeParam } from '../src/ops/time.js'
import { p } from '../src/registry/params.js'
import { table, shortTime } from '../src/registry/render.js'
import { defineCommand } from '../src/registry/types.js'

export default defineCommand({
  name: 'events',
  group: 'operations',
  summary: 'List events: machine state changes, ports, keys and account changes',
  usage: 'events [--since T] [--until T] [--machine M] [--type TYPE] [--user EMAIL] [--limit N]',
  description: 'Users see their own events; admins see everyone\'s and may filter by --user. --type takes a type or a glob (machine.*). The same events are delivered to webhooks (see `webhook add`).',
  examples: ['events --since 1h', 'events --machine web --type machine.*', 'events --json | jq -r \'.events[].type\''],
  flags: {
    since: timeParam('only events at or after this time'),
    until: timeParam('only events before this time'),
    machine: machineFilterParam('only events about this machine (deleted machines too)'),
    type: p.string({ optional: true, description: 'an event type or glob: machine.stopped, machine.*' }),
    user: p.email({ optional: true, description: 'only this user\'s events (admins)' }),
    limit: p.int({ min: 1, max: 1000 })({ default: 100, description: 'at most this many events, newest first' }),
  },
  mutates: false,
  run({ flags }, ctx): { events: EventView[] } {
    const now = ctx.clock.now()
    if (flags.type !== undefined && !/^[a-z0-9_.*?]{1,64}$/.test(flags.type)) throw usage(`bad --type "${flags.type.slice(0, 40)}"`, 'an event type or glob, e.g. machine.*')
    const scope = listingScope(ctx.principal, ctx.store, flags.user)
    const rows = ctx.store.events.query({
      userId: 'all' in scope ? undefined : scope.userId,
      since: flags.since && pastTime(flags.since, now).toISOString(),
      until: flags.until && pastTime(flags.until, now).toISOString(),
      machine: flags.machine,
      type: flags.type,
      limit: flags.limit,
    })
    return { events: rows.filter((r) => machineVisible(ctx.principal, r.machine)).map(eventView) }
  },
  human: (r) => table(r.events, {
    time: (e) => shortTime(e.created_at), type: (e) => e.type, machine: (e) => e.machine, id: (e) => e.id,
  }),
})
