// The HTTP door's one hook: on its node server, requests and upgrades whose Host names a machine
// (`<m>.<domain>`, `<m>-<port>.<domain>`) go to the machine proxy; everything else reaches the
// door's own listeners (the API) exactly as before.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { MachineProxy } from './proxy.js'

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

export function attachMachineProxy(server: Server, proxy: MachineProxy): void {
  const api = server.listeners('request') as RequestListener[]
  const apiUpgrades = server.listeners('upgrade') as UpgradeListener[]
  server.removeAllListeners('request')
  server.removeAllListeners('upgrade')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const target = proxy.route(req.headers.host)
    if (target) void proxy.handle(req, res, target)
    else for (const l of api) l.call(server, req, res)
  })
  // Upgraded connections (WebSockets) leave the HTTP server's bookkeeping, so closeAllConnections
  // never reaches them and close() would wait for every tunnel to end by itself: cut them first.
  const tunnels = new Set<Duplex>()
  const close = server.close.bind(server)
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of tunnels) s.destroy()
    return close(cb)
  }) as typeof server.close
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = proxy.route(req.headers.host)
    if (target) {
      tunnels.add(socket)
      socket.once('close', () => tunnels.delete(socket))
      void proxy.upgrade(req, socket, head, target)
    }
    else if (apiUpgrades.length) for (const l of apiUpgrades) l.call(server, req, socket, head)
    else socket.destroy() // the API has no upgrades
  })
}
