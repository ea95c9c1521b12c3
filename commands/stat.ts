import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'
import type { MachineSpecJson } from '../src/store/index.js'

export default defineCommand({
  name: 'stat',
  group: 'machines',
  summary: 'Show one machine: state, image, uptime, resource use, limits',
  usage: 'stat <machine> [--json]',
  examples: ['stat web', 'stat web --json | jq .memory_bytes'],
  args: { machine: p.machine() },
  mutates: false,
  async run({ args }, ctx) {
    const row = ctx.machines.owned(ctx.principal, args.machine)
    const st = await ctx.machines.status(row)
    const spec = JSON.parse(row.spec) as MachineSpecJson
    const now = ctx.clock.now().getTime()
    return {
      ...machineView(row, ctx),
      status_reason: row.status_reason,
      driver_state: st.state,
      started_at: row.started_at,
      uptime_s: row.status === 'running' && row.started_at ? Math.max(0, Math.round((now - Date.parse(row.started_at)) / 1000)) : null,
      cpu_seconds: st.cpuSeconds ?? null,
      memory_bytes: st.memoryBytes ?? null,
      disk_bytes: st.diskBytes ?? null,
      network: spec.network,
      env: Object.keys(spec.env),
      limits: st.limits ? { cgroup: st.limits.cgroup, cpu: st.limits.cpu ?? null, memory_bytes: st.limits.memoryBytes ?? null, pids: st.limits.pids ?? null, ...(st.limits.note ? { note: st.limits.note } : {}) } : null,
    }
  },
  human: (m) => [
    `${m.name}  ${m.status}${m.status_reason ? ` (${m.status_reason})` : ''}`,
    `  image     ${m.image} (${m.driver})`,
    `  uptime    ${m.uptime_s === null ? '-' : `${m.uptime_s}s`}`,
    `  cpu       ${m.cpu_seconds === null ? '-' : `${m.cpu_seconds.toFixed(1)}s used`}${m.limits?.cpu ? `, limit ${m.limits.cpu} cores` : ''}`,
    `  memory    ${m.memory_bytes === null ? '-' : mib(m.memory_bytes)}${m.limits?.memory_bytes ? ` of ${mib(m.limits.memory_bytes)}` : ''}`,
    `  disk      ${m.disk_bytes === null ? '-' : mib(m.disk_bytes)}`,
    `  limits    ${m.limits ? `cgroup ${m.limits.cgroup}${m.limits.note ? ` — ${m.limits.note}` : ''}` : '-'}`,
    `  ssh       ${m.ssh_command}`,
    `  https     ${m.https_url}`,
  ].join('\n'),
})

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`
