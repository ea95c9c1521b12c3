// Reaching machines on the sandbox driver (needs root; skips with the reason otherwise).
import { vi } from 'vitest'
import { SandboxDriver } from '../../src/machines/sandbox/index.js'
import { reachSuite } from './reach-suite.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 })

reachSuite({
  name: 'sandbox',
  skip: process.getuid?.() === 0 ? undefined : 'the sandbox driver needs root',
  make: (dataDir) => new SandboxDriver({ dataDir, stopGraceMs: 2000 }),
  image: 'host',
  busybox: '/dev/.boxd/busybox',
  portRange: { from: 31000, to: 31099 },
})
