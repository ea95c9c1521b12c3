import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { cidrFlag } from '../../src/ports/cidr.js'

export default defineCommand({
  name: 'port open',
  summary: 'Forward a host port to a port inside a machine',
  usage: 'port open <machine> <port> [--host-port=N] [--to=CIDR]…',
  description: 'Every TCP connection to the host port is piped to 127.0.0.1:<port> inside the machine. '
    + 'Without --host-port a free one is picked from the server\'s --port-range. --to limits who may '
    + 'connect (source addresses; repeatable; default everyone); others are disconnected at once. '
    + 'The forward stays across restarts: it listens while the machine runs.',
  examples: ['port open web 8080', 'port open web 5432 --host-port 25432 --to 10.0.0.0/8 --to 192.168.1.7'],
  args: { machine: p.machine(), port: p.port({ description: 'port inside the machine' }) },
  flags: {
    hostPort: p.port({ optional: true, description: 'host port to listen on (within the server\'s port range)' }),
    to: cidrFlag('source addresses allowed to connect (CIDR or one address); repeatable'),
  },
  mutates: true,
  async run({ args, flags }, ctx) {
    const m = ctx.machines.owned(ctx.principal, args.machine) // not_found unless yours
    return ctx.ports.open(m, args.port, { hostPort: flags.hostPort, to: flags.to })
  },
  human: (r) => `${r.machine}:${r.port} ⇐ ${r.listen} (from ${r.to.join(', ')})${r.state === 'listening' ? '' : ` — ${r.state}: the forward listens while ${r.machine} runs`}`,
})
