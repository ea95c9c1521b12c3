// Reaching machines on the docker driver: skips, with the reason printed, when no engine answers.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Docker from 'dockerode'
import { vi } from 'vitest'
import { DockerDriver } from '../../src/machines/docker/index.js'
import { within } from '../machines/helpers.js'
import { reachSuite } from './reach-suite.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 })

const IMAGE = 'boxd-test:busybox'
let skip: string | undefined
try {
  await within(new Docker().ping(), 3000, 'docker ping')
  execFileSync(fileURLToPath(new URL('../../scripts/docker-test-image.sh', import.meta.url)), { stdio: 'pipe' })
} catch (e) {
  skip = `no usable Docker engine at /var/run/docker.sock (${(e as Error).message.split('\n')[0]})`
}

reachSuite({
  name: 'docker',
  skip,
  make: (dataDir) => new DockerDriver({ defaultImage: IMAGE, dataDir, stopTimeoutSec: 2 }),
  image: IMAGE,
  busybox: '/bin/busybox',
  portRange: { from: 31100, to: 31199 },
})
