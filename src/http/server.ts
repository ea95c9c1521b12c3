// `boxd serve`'s HTTP side: HTTPS on --https-port (default 8443) and/or plain HTTP on
// --http-port (behind a TLS proxy, and tests). Only --http-port given → only HTTP.
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createPlainServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { DEFAULTS, type App } from '../app.js'
import type { Door } from '../server.js'
import { createHttpApp, EXEC_DEADLINE_MS, type HttpDoorOptions } from './app.js'
import { loadTls, type TlsMaterial } from './tls.js'
import { attachMachineProxy } from '../proxy/attach.js'

export interface HttpDoor extends Door {
  /** Bound ports (meaningful with port 0): tests and the banner read them. */
  ports: { https?: number; http?: number }
  tls?: TlsMaterial
}

// A client gets this long to send its headers, and to send the whole request (slow-loris bound).
const HEADERS_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = EXEC_DEADLINE_MS

export async function startHttpServers(app: App, opts: HttpDoorOptions = {}): Promise<HttpDoor> {
  const { config } = app
  const httpsPort = config.httpsPort ?? (config.httpPort === undefined ? DEFAULTS.httpsPort : undefined)
  const hono = createHttpApp(app, opts)
  const servers: Server[] = []
  const banner: string[] = []
  const ports: HttpDoor['ports'] = {}
  let tls: TlsMaterial | undefined
  const host = config.listen.includes(':') ? `[${config.listen}]` : config.listen
  try {
    if (httpsPort !== undefined) {
      tls = await loadTls(config)
      const server = createAdaptorServer({ fetch: hono.fetch, createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } }) as Server
      attachMachineProxy(server, app.services.proxy) // Host <m>.<domain> / <m>-<port>.<domain> → the machine
      ports.https = await listen(server, httpsPort, config.listen, '--https-port')
      servers.push(server)
      banner.push(`https: https://${host}:${ports.https}/exec`)
      banner.push(tls.selfSigned
        ? `https: ${tls.created ? 'made a' : 'using the'} self-signed certificate ${tls.certPath} (SHA-256 ${tls.fingerprint}); clients need curl -k or --cacert ${tls.certPath}`
        : `https: certificate ${tls.certPath} (SHA-256 ${tls.fingerprint})`)
    }
    if (config.httpPort !== undefined) {
      const server = createAdaptorServer({ fetch: hono.fetch, createServer: createPlainServer }) as Server
      attachMachineProxy(server, app.services.proxy)
      ports.http = await listen(server, config.httpPort, config.listen, '--http-port')
      servers.push(server)
      banner.push(`http: http://${host}:${ports.http}/exec (plain HTTP: put it behind a TLS proxy)`)
    }
  } catch (e) {
    await Promise.all(servers.map(stop))
    throw e
  }
  return { banner, ports, tls, close: async () => { await Promise.all(servers.map(stop)) } }
}

function listen(server: Server, port: number, host: string, flag: string): Promise<number> {
  server.headersTimeout = HEADERS_TIMEOUT_MS
  server.requestTimeout = REQUEST_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new Error(`${flag} ${port}: address ${host}:${port} is already in use`) : e)
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    // Idle keep-alive and in-flight connections would otherwise hold close() open.
    server.closeAllConnections()
  })
}
