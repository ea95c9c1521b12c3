// GET /healthz: can boxd serve? The database answers a query; the machine driver is usable.
// Details are short and generic: /healthz is unauthenticated.
import type { Services } from '../services.js'
import type { Store } from '../store/index.js'

export type CheckStatus = 'ok' | 'error' | 'skipped'

export interface Check {
  status: CheckStatus
  detail?: string
}

export interface HealthReport {
  status: 'ok' | 'degraded'
  checks: { database: Check; driver: Check }
}

const DRIVER_CHECK_MS = 2000

export async function healthReport(services: Pick<Services, 'store' | 'machines'>): Promise<HealthReport> {
  const database = checkDatabase(services.store)
  const driver = await checkDriver(services)
  const status = database.status !== 'error' && driver.status !== 'error' ? 'ok' : 'degraded'
  return { status, checks: { database, driver } }
}

/** The HTTP status for a report: 200 when ok, 503 otherwise. */
export const healthStatus = (r: HealthReport): 200 | 503 => (r.status === 'ok' ? 200 : 503)

function checkDatabase(store: Store): Check {
  try {
    store.db.prepare('SELECT count(*) FROM users').get()
    return { status: 'ok' }
  } catch {
    return { status: 'error', detail: 'database query failed' }
  }
}

async function checkDriver(services: Pick<Services, 'machines'>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined
  try {
    const r = await Promise.race([
      services.machines.health(),
      new Promise<{ ok: false; detail: string }>((res) => { timer = setTimeout(() => res({ ok: false, detail: 'driver check timed out' }), DRIVER_CHECK_MS) }),
    ])
    return r.ok ? { status: 'ok' } : { status: 'error', detail: (r.detail ?? 'driver unavailable').slice(0, 200) }
  } catch {
    return { status: 'error', detail: 'driver check failed' }
  } finally {
    clearTimeout(timer)
  }
}
