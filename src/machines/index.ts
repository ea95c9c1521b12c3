// Which Driver a server uses, from its config.
import { join } from 'node:path'
import type { Config } from '../services.js'
import { DockerDriver } from './docker/index.js'
import type { Driver } from './driver.js'
import { SandboxDriver } from './sandbox/index.js'

/** Docker's default image when the operator names none: a slim Debian, as most users expect. */
export const DOCKER_DEFAULT_IMAGE = 'debian:bookworm-slim'

export function createDriver(config: Config): Driver {
  if (config.driver === 'docker') {
    return new DockerDriver({ defaultImage: config.defaultImage ?? DOCKER_DEFAULT_IMAGE, dataDir: join(config.dataDir, 'docker') })
  }
  return new SandboxDriver({ dataDir: config.dataDir })
}
