// Opening (and re-opening) an app on a given data dir: a "restart" is close + open on the same dir.
import pino from 'pino'
import { createApp, resolveConfig, type App } from '../../src/app.js'
import type { User } from '../../src/store/index.js'
import type { Config } from '../../src/services.js'
import { FakeClock, run } from '../helpers/app.js'
import { FakeDriver } from '../helpers/fake-driver.js'

export function openApp(dir: string, clock: FakeClock, config: Partial<Config> = {}): App {
  return createApp(resolveConfig({ dataDir: dir, ...config }), { clock, log: pino({ level: 'silent' }), driver: new FakeDriver() })
}

/** Run `line --json` as `user`; the exit status and the parsed stdout. */
export async function runJson(app: App, user: User, line: string): Promise<{ exit: number; code?: string; data: any }> {
  const o = await run(app, user, `${line} --json`)
  return { exit: o.exit, code: o.error?.code, data: o.stdout ? JSON.parse(o.stdout) : undefined }
}
