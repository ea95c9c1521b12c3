import { p } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'

export default defineCommand({
  name: 'port close',
  summary: 'Stop forwarding a machine port (open connections are cut)',
  usage: 'port close <machine> <port>',
  examples: ['port close web 8080'],
  args: { machine: p.machine(), port: p.port({ description: 'port inside the machine' }) },
  mutates: true,
  async run({ args }, ctx) {
    const m = ctx.machines.owned(ctx.principal, args.machine)
    const closed = await ctx.ports.close(m, args.port)
    return { machine: closed.machine, port: closed.port, host_port: closed.host_port }
  },
  human: (r) => `closed ${r.machine}:${r.port} (host port ${r.host_port})`,
})
