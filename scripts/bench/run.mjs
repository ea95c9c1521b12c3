// `npm run bench [-- --quick]`: every benchmark module in one run, each figure a ratio against a
// baseline measured in the same run (or a count). Writes bench-results.json at the repo root.
//
// A module is scripts/bench/<name>.mjs exporting
//   export const title = '…'
//   export async function run({ quick, log }) → { key: number, … }
// and is listed in MODULES below (explicit, like commands/index.ts).
import { writeFileSync } from 'node:fs'

const MODULES = ['ssh', 'token', 'http', 'forward', 'machines', 'ls']

const quick = process.argv.includes('--quick')
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',')
const results = {}
const log = (...a) => process.stderr.write(`${a.join(' ')}\n`)
for (const name of MODULES) {
  if (only && !only.includes(name)) continue
  const mod = await import(`./${name}.mjs`)
  log(`\n== ${name}: ${mod.title}`)
  const t0 = Date.now()
  try {
    Object.assign(results, await mod.run({ quick, log }))
  } catch (e) {
    log(`!! ${name} failed: ${e?.stack ?? e}`)
    process.exitCode = 1
  }
  log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
}
writeFileSync(new URL('../../bench-results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`)
const w = Math.max(0, ...Object.keys(results).map((k) => k.length))
console.log(`\n${'key'.padEnd(w)}  value`)
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(w)}  ${typeof v === 'number' ? +v.toFixed(3) : v}`)
