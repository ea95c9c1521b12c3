// GET /healthz and GET /metrics, mounted on the HTTP door's hono app. Neither touches /exec's
// credentials: /healthz is open (it says only ok/degraded and which check failed); /metrics is
// open unless the operator sets --metrics-token.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Env, Hono } from 'hono'
import type { Services } from '../services.js'
import { healthReport, healthStatus } from './health.js'

const NO_STORE = { 'Cache-Control': 'no-store' }

export function mountOpsRoutes<E extends Env>(app: Hono<E>, services: Services): void {
  app.get('/healthz', async (c) => {
    const report = await healthReport(services)
    return c.json(report, healthStatus(report), NO_STORE)
  })

  app.get('/metrics', async (c) => {
    const want = services.config.metricsToken
    if (want !== undefined && want !== '' && !bearerMatches(c.req.header('authorization'), want)) {
      return c.json({ error: 'missing or wrong metrics token', code: 'unauthenticated' }, 401, { 'WWW-Authenticate': 'Bearer realm="boxd-metrics"', ...NO_STORE })
    }
    return c.body(await services.metrics.metricsText(), 200, { 'Content-Type': services.metrics.contentType, ...NO_STORE })
  })
}

/** Constant-time: both sides are hashed to 32 bytes first, so neither length nor content leaks. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '')
  const got = createHash('sha256').update(m ? m[1] : '').digest()
  const want = createHash('sha256').update(token).digest()
  return timingSafeEqual(got, want) && m !== null
}
