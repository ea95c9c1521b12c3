import { usage } from '../src/errors.js'
import type { AuditView } from '../src/ops/audit.js'
import { listingScope, machineFilterParam, machineVisible } from '../src/ops/scope.js'
import { pastTime, timeParam } from '../src/ops/time.js'
import { p } from '../src/registry/params.js'
import { table, shortTime } from '../src/registry/render.js'
import { defineCommand } from '../src/registry/types.js'

export default defineCommand({
  name: 'audit',
  group: 'operations',
  summary: 'Show the audit trail: who ran which verb, through which door, with what result',
  usage: 'audit [--since T] [--until T] [--user EMAIL] [--machine M] [--verb V] [--limit N]',
  description: 'Users see their own calls; admins see everyone\'s and may filter by --user. Times are ISO-8601 or relative (30m, 1h, 7d). Arguments are shown with secrets redacted.',
  examples: ['audit --since 1h', 'audit --verb ssh-key --json | jq \'.entries[].args\'', 'audit --user bob@example.com --since 2026-11-01'],
  flags: {
    since: timeParam('only calls at or after this time'),
    until: timeParam('only calls before this time'),
    user: p.email({ optional: true, description: 'only this user\'s calls (admins; by email, so removed accounts stay findable)' }),
    machine: machineFilterParam('only calls naming this machine (deleted machines too)'),
    verb: p.string({ optional: true, description: 'only this verb, or a group (`ssh-key` matches `ssh-key add`)' }),
    limit: p.int({ min: 1, max: 1000 })({ default: 100, description: 'at most this many entries, newest first' }),
  },
  mutates: false,
  run({ flags }, ctx): { entries: AuditView[] } {
    const now = ctx.clock.now()
    const scope = listingScope(ctx.principal, ctx.store, flags.user)
    if (flags.verb !== undefined && flags.verb.length > 100) throw usage('--verb is too long')
    const entries = ctx.audit.query({
      // Users by id (a reused email never shows a removed account's trail); admins by email.
      ...('all' in scope ? {} : ctx.principal.user.role === 'admin' ? { userEmail: scope.email } : { userId: scope.userId }),
      since: flags.since && pastTime(flags.since, now).toISOString(),
      until: flags.until && pastTime(flags.until, now).toISOString(),
      verb: flags.verb,
      machine: flags.machine,
      limit: flags.limit,
    })
    return { entries: entries.filter((e) => e.machines.every((m) => machineVisible(ctx.principal, m))) }
  },
  human: (r) => table(r.entries, {
    time: (e) => shortTime(e.time), user: (e) => e.user, door: (e) => e.door, verb: (e) => e.verb,
    code: (e) => e.code, ms: (e) => Math.round(e.duration_ms), from: (e) => e.remote_address, request: (e) => e.request_id,
  }),
})
