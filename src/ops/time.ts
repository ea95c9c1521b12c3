// Times on the command line: ISO-8601 or relative (`1h`, `7d`). A relative time is kept relative
// until `run`, so it resolves against ctx.clock (the fake clock in tests), not the parser's clock.
import { clip, parseDuration, type Param } from '../registry/params.js'

export type TimeRef = { readonly seconds: number } | { readonly at: Date }

// Date, or date-time with optional seconds/fraction and zone; no zone means UTC.
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i

export function parseTimeRef(raw: string): TimeRef {
  if (/^\d+[smhdw]$/.test(raw)) return { seconds: parseDuration(raw) }
  if (!ISO_RE.test(raw)) throw new Error(`expected an ISO-8601 time (2026-11-23T10:00:00Z) or a duration (30m, 1h, 7d), got "${clip(raw)}"`)
  const zoned = raw.length > 10 && !/(?:Z|[+-]\d{2}:?\d{2})$/i.test(raw) ? `${raw}Z` : raw
  const at = new Date(zoned.replace(' ', 'T'))
  if (Number.isNaN(at.getTime())) throw new Error(`"${clip(raw)}" is not a valid time`)
  return { at }
}

/** `--since 1h` → an hour before now. */
export const pastTime = (ref: TimeRef, now: Date): Date => ('at' in ref ? ref.at : new Date(now.getTime() - ref.seconds * 1000))
/** `user expire bob 30d` → thirty days after now. */
export const futureTime = (ref: TimeRef, now: Date): Date => ('at' in ref ? ref.at : new Date(now.getTime() + ref.seconds * 1000))

/** An optional time flag (the registry's `p` has no time builder yet; this is its shape). */
export function timeParam(description: string): Param<TimeRef | undefined> {
  return { type: 'time', description, optional: true, repeatable: false, machine: false, secret: false, parse: parseTimeRef }
}

/** `user expire`'s argument: a time (relative = from now on) or `never`. */
export function expiryParam(description: string): Param<TimeRef | null> {
  return {
    type: 'time', description, optional: false, repeatable: false, machine: false, secret: false,
    parse: (raw) => (raw === 'never' ? null : parseTimeRef(raw)),
  }
}
