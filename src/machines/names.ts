// Machine names: DNS labels that become <name>.<domain>. A trailing -<digits> is reserved for
// per-port hostnames (<name>-<port>.<domain>), so a name may never end that way.
import { randomInt } from 'node:crypto'
import { MACHINE_NAME_RE } from '../registry/params.js'

export function machineNameProblem(name: string): string | undefined {
  if (!MACHINE_NAME_RE.test(name)) return `"${name.slice(0, 70)}" is not a valid machine name: use 1–63 lowercase letters, digits and -, not starting or ending with -`
  if (/-\d+$/.test(name)) return `"${name}" ends in -<digits>, which is reserved for per-port hostnames (<name>-<port>.<domain>)`
  return undefined
}

const ADJECTIVES = ['amber', 'brave', 'calm', 'clever', 'cosmic', 'crisp', 'daring', 'eager', 'fancy', 'fleet', 'gentle', 'golden', 'happy', 'humble', 'jolly', 'keen', 'lively', 'lucky', 'merry', 'mighty', 'nimble', 'noble', 'proud', 'quick', 'quiet', 'rapid', 'rustic', 'shiny', 'silent', 'snowy', 'solar', 'steady', 'sunny', 'swift', 'tidy', 'vivid', 'warm', 'wise', 'witty', 'zesty']
const NOUNS = ['badger', 'beacon', 'canyon', 'cedar', 'comet', 'condor', 'coral', 'falcon', 'fjord', 'forest', 'galaxy', 'glacier', 'harbor', 'heron', 'island', 'lagoon', 'lantern', 'maple', 'meadow', 'meteor', 'nebula', 'orchid', 'otter', 'panda', 'pebble', 'pine', 'prairie', 'quartz', 'raven', 'reef', 'river', 'sparrow', 'summit', 'tiger', 'tundra', 'valley', 'walrus', 'willow', 'yak', 'zephyr']

/** Two words, e.g. "brave-otter"; the caller retries on a clash. */
export function generateName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`
}
