import { p } from '../src/registry/params.js'
import { defineCommand } from '../src/registry/types.js'
import { machineView } from '../src/machines/view.js'
import { asTask, isStarted, startedText } from '../src/ops/task-verb.js'

export default defineCommand({
  name: 'new',
  group: 'machines',
  summary: 'Create a machine and wait until it runs',
  usage: 'new [--name N] [--image I] [--env K=V]… [--cpu N] [--memory 512M] [--tag T]… [--comment C] [--command CMD] [--network none|host] [--no-wait]',
  examples: ['new', 'new --name=web --json | jq -r .ssh_command', 'new --name=ci-7 --no-wait --json | jq -r .task_id', 'new --name ci-1a --tag ci --memory 1G --cpu 2 --env GOFLAGS=-mod=mod'],
  flags: {
    name: p.machine({ optional: true, description: 'DNS label, ≤ 63 (default: two random words)' }),
    image: p.string({ optional: true, description: 'image (sandbox: `host` or an imported image; docker: an image reference)' }),
    env: p.string({ repeatable: true, description: 'environment variable for the machine, NAME=VALUE' }),
    cpu: p.int({ min: 1, max: 64 })({ optional: true, description: 'CPU cores' }),
    memory: p.size({ optional: true, description: 'memory limit, e.g. 512M or 2G' }),
    tag: p.string({ repeatable: true, description: 'a tag (for `ls <tag>`)' }),
    comment: p.string({ optional: true, description: 'a free-text note' }),
    command: p.string({ optional: true, description: 'a command the machine runs at boot (sh -c)' }),
    network: p.choice(['none', 'host'] as const)({ default: 'none', description: 'none: loopback only; host: the host network (if the operator allows)' }),
    noWait: p.bool({ description: 'return {task_id, status} at once (HTTP 202) instead of waiting; follow with `task show`' }),
  },
  mutates: true,
  async run({ flags }, ctx) {
    // Name, quota and flags are checked now; only the slow part runs as a task.
    const row = ctx.machines.reserve(ctx.principal, {
      name: flags.name, image: flags.image, env: flags.env, cpu: flags.cpu, memoryBytes: flags.memory,
      tags: flags.tag, comment: flags.comment, command: flags.command, network: flags.network,
    })
    return asTask(ctx, 'new', flags.noWait, async (progress) => machineView(await ctx.machines.provision(row, progress), ctx), { name: row.name })
  },
  human: (m) => (isStarted(m) ? startedText(m) : `created ${m.name} (${m.status}): ${m.ssh_command}`),
})
