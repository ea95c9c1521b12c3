// The port forwards as a server component: bound at start (for running machines), then kept in
// step with machine state; all closed when the server stops.
import type { App } from '../app.js'
import type { Door } from '../server.js'

export async function startPorts(app: App): Promise<Door> {
  const { ports } = app.services
  await ports.start()
  const { listen, range } = ports.options
  return {
    banner: [`ports: forwarded ports on ${listen}, host ports ${range.from}-${range.to} (${ports.listening} listening)`],
    close: () => ports.stop(),
  }
}
