import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Hono } from 'hono'
import { healthReport } from '../../src/ops/health.js'
import { bearerMatches, mountOpsRoutes } from '../../src/ops/http-routes.js'
import type { Services } from '../../src/services.js'
import { addUser, makeApp, run, type TestApp } from '../helpers/app.js'
import { FakeDriver } from '../helpers/fake-driver.js'

let app: TestApp
let driver: FakeDriver
beforeEach(() => {
  driver = new FakeDriver()
  app = makeApp({ driver })
})
afterEach(() => app.cleanup())

describe('healthReport', () => {
  it('ok when the database answers and the driver is usable', async () => {
    expect(await healthReport(app.services)).toEqual({ status: 'ok', checks: { database: { status: 'ok' }, driver: { status: 'ok' } } })
  })

  it('degraded (and 503 on /healthz) when the driver is unavailable', async () => {
    driver.checkError = 'cannot reach the docker engine'
    const r = await healthReport(app.services)
    expect(r).toEqual({ status: 'degraded', checks: { database: { status: 'ok' }, driver: { status: 'error', detail: 'cannot reach the docker engine' } } })
    const http = new Hono()
    mountOpsRoutes(http, app.services)
    const res = await http.request('/healthz')
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ status: 'degraded' })
  })

  it('a driver check that hangs is reported degraded within seconds', async () => {
    const fake = { store: app.services.store, machines: { health: () => new Promise<never>(() => {}) } }
    const t0 = Date.now()
    const r = await healthReport(fake as unknown as Services)
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(r.checks.driver).toEqual({ status: 'error', detail: 'driver check timed out' })
  })

  it('degraded when the database is gone', async () => {
    app.services.store.close()
    expect((await healthReport(app.services)).checks.database).toEqual({ status: 'error', detail: 'database query failed' })
  })
})

describe('metrics', () => {
  it('counts verb calls by verb, door and code; latency; rate-limit hits; machines by state', async () => {
    const u = addUser(app, 'a@example.com', 'admin').user
    await run(app, u, 'whoami')
    await run(app, u, 'whoami', { door: 'ssh' })
    await run(app, u, 'frobnicate')
    await run(app, u, 'new --name web')
    app.services.metrics.sshSessionOpened()
    app.services.metrics.webhookDelivery('retry')
    const text = await app.services.metrics.metricsText()
    expect(text).toContain('boxd_verb_calls_total{verb="whoami",door="local",code="ok"} 1')
    expect(text).toContain('boxd_verb_calls_total{verb="whoami",door="ssh",code="ok"} 1')
    expect(text).toContain('boxd_verb_calls_total{verb="(unknown)",door="local",code="unknown_command"} 1')
    expect(text).toMatch(/boxd_verb_duration_seconds_count\{verb="whoami",door="local"\} 1/)
    expect(text).toContain('boxd_ssh_sessions_open 1')
    expect(text).toContain('boxd_webhook_deliveries_total{outcome="retry"} 1')
    expect(text).toMatch(/boxd_machines\{state="(running|creating)"\} 1/)
    expect(text).toContain('# TYPE boxd_rate_limited_total counter')
    // Only boxd_ names.
    for (const l of text.split('\n').filter((x) => x && !x.startsWith('#'))) expect(l).toMatch(/^boxd_/)
  })

  it('rate-limit refusals are counted', async () => {
    app.services.metrics.after({ line: 'x', door: 'http', principal: {} as never, outcome: { ok: false, verb: 'ls', error: { code: 'rate_limited' }, durationMs: 1 } as never })
    expect(await app.services.metrics.metricsText()).toContain('boxd_rate_limited_total{door="http"} 1')
  })

  it('/metrics is open by default; with --metrics-token it needs the bearer token', async () => {
    const open = new Hono()
    mountOpsRoutes(open, app.services)
    const r1 = await open.request('/metrics')
    expect(r1.status).toBe(200)
    expect(r1.headers.get('content-type')).toMatch(/text\/plain/)
    const guarded = new Hono()
    mountOpsRoutes(guarded, { ...app.services, config: { ...app.services.config, metricsToken: 's3cret-metrics' } })
    expect((await guarded.request('/metrics')).status).toBe(401)
    expect((await guarded.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect((await guarded.request('/metrics', { headers: { authorization: 'Bearer s3cret-metrics' } })).status).toBe(200)
    expect(bearerMatches('Bearer s3cret-metrics', 's3cret-metrics')).toBe(true)
    expect(bearerMatches(undefined, '')).toBe(false)
  })
})
