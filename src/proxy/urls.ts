// The web address of a machine hostname, as the HTTPS door serves it (mirrors machineView's https_url).
import type { Config } from '../services.js'

export function machineHostname(config: Pick<Config, 'domain'>, machine: string, port?: number): string {
  return port === undefined ? `${machine}.${config.domain}` : `${machine}-${port}.${config.domain}`
}

export function webBase(config: Pick<Config, 'httpsPort' | 'httpPort'>, hostname: string): string {
  const { httpsPort, httpPort } = config
  return httpsPort !== undefined || httpPort === undefined
    ? `https://${hostname}${(httpsPort ?? 8443) === 443 ? '' : `:${httpsPort ?? 8443}`}`
    : `http://${hostname}${httpPort === 80 ? '' : `:${httpPort}`}`
}
