// Which Driver a server uses, from its config.
import type { Config } from '../services.js'
import type { Driver } from './driver.js'

export function createDriver(config: Config): Driver {
  return unavailable(config.driver, 'the machine drivers are not built into this boxd yet')
}

/** A driver that cannot run: every call fails with the reason (health reports it). */
export function unavailable(name: Driver['name'], reason: string): Driver {
  const fail = async (): Promise<never> => { throw new Error(reason) }
  return { name, check: fail, create: fail, start: fail, stop: fail, remove: fail, rebuild: fail, status: fail, exec: fail, connect: fail, list: async () => [] }
}
