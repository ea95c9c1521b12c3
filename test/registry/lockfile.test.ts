// `npm ci` (CI's install step) refuses a lockfile in which an optionalDependency has no entry.
// npm cannot record other platforms' binaries when the registry mirror lacks them, so
// scripts/lock-platform-entries.mjs adds platform-gated entries; this keeps them from being lost.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

describe('package-lock.json', () => {
  it('has an entry for every optional dependency (else `npm ci` fails on a clean checkout)', () => {
    const lock = JSON.parse(readFileSync(join(import.meta.dirname, '../../package-lock.json'), 'utf8'))
    const pk = lock.packages as Record<string, { optionalDependencies?: Record<string, string> }>
    const missing: string[] = []
    for (const [key, p] of Object.entries(pk)) {
      for (const dep of Object.keys(p.optionalDependencies ?? {})) {
        if (!pk[`node_modules/${dep}`] && !pk[`${key}/node_modules/${dep}`]) missing.push(`${key || '(root)'} → ${dep}`)
      }
    }
    expect(missing, 'run: node scripts/lock-platform-entries.mjs').toEqual([])
  })
})
