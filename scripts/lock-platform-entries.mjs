// Run after any `npm install` that rewrites package-lock.json: node scripts/lock-platform-entries.mjs package-lock.json
// One-off: this registry mirror lacks other platforms' optional binaries, so npm cannot record them,
// yet npm 11's `npm ci` insists every optionalDependency has a lock entry. Add platform-gated entries.
import { readFileSync, writeFileSync } from 'node:fs'
const path = process.argv[2] ?? new URL('../package-lock.json', import.meta.url).pathname
const lock = JSON.parse(readFileSync(path, 'utf8'))
const pk = lock.packages
const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'openharmony', 'win32', 'netbsd', 'sunos', 'aix']
const CPU = { 'arm-eabi': 'arm', 'arm-gnueabihf': 'arm', 'arm-musleabihf': 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' }
let added = 0
for (const [key, p] of Object.entries(pk)) {
  for (const [dep, ver] of Object.entries(p.optionalDependencies ?? {})) {
    const base = key ? `${key}/node_modules/` : 'node_modules/'
    if (pk[`node_modules/${dep}`] || pk[base + dep]) continue
    const m = /-(android|darwin|freebsd|linux|openbsd|openharmony|win32|netbsd|sunos|aix)-([a-z0-9]+)(?:-(gnu|musl|msvc|gnueabihf|musleabihf|eabi))?$/.exec(dep)
    if (!m) { console.log('cannot infer platform for', dep); continue }
    const [, os, cpuRaw, abi] = m
    const cpu = CPU[abi && (abi === 'eabi' || abi.endsWith('eabihf')) ? `${cpuRaw}-${abi}` : cpuRaw] ?? cpuRaw
    const entry = { version: ver, cpu: [cpu], dev: p.dev || undefined, license: p.license, optional: true, os: [os] }
    if (abi === 'gnu' || abi === 'gnueabihf') entry.libc = ['glibc']
    if (abi === 'musl' || abi === 'musleabihf') entry.libc = ['musl']
    pk[`node_modules/${dep}`] = entry
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))))
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n')
console.log('added', added)
