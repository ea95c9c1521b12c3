import { usage } from '../../src/errors.js'
import { p, parseDuration } from '../../src/registry/params.js'
import { defineCommand } from '../../src/registry/types.js'
import { checkKeyName } from './add.js'

export default defineCommand({
  name: 'ssh-key generate-api-key',
  summary: 'Make a server-generated key and print an API token signed by it',
  usage: 'ssh-key generate-api-key [--label L] [--cmds a,b] [--exp 30d|never] [--machine M]…',
  description: 'For scripts and CI that have no SSH key of their own. The server makes a fresh ed25519 key, '
    + 'registers its public half on your account as --label, signs the token and forgets the private half: '
    + 'the printed token is all there is. Remove the key (`ssh-key remove LABEL`) to revoke it. '
    + 'Over a token, you can only grant verbs, machines and a lifetime that token has.',
  examples: [
    'ssh-key generate-api-key --label ci --cmds ls,stat --exp 30d',
    'ssh-key generate-api-key --label deploy --cmds "new,rm" --machine "ci-*" --exp never',
  ],
  flags: {
    label: p.string({ optional: true, description: 'the key\'s name on your account (default api-key-N)' }),
    cmds: p.string({ optional: true, description: 'comma-separated verbs the token may run (default: the read-only set)' }),
    exp: p.string({ default: '30d', description: 'lifetime (30s, 10m, 2h, 30d, 4w) or "never"' }),
    machine: p.string({ repeatable: true, description: 'machine name glob the token may act on (repeatable; default all)' }),
  },
  mutates: true,
  run({ flags }, ctx) {
    if (flags.label !== undefined) checkKeyName(flags.label)
    let cmds: string[] | undefined
    if (flags.cmds !== undefined) {
      cmds = [...new Set(flags.cmds.split(',').map((c) => c.trim().replace(/\s+/g, ' ')).filter(Boolean))]
      if (cmds.length === 0) throw usage('--cmds names no verb', 'e.g. --cmds ls,stat')
      const unknown = cmds.filter((c) => !ctx.registry.get(c))
      if (unknown.length > 0) throw usage(`--cmds: no verb ${unknown.map((c) => `"${c.slice(0, 40)}"`).join(', ')}`, 'run `help` to list verbs')
    }
    let expiresIn: number | null = null
    if (flags.exp !== 'never') {
      try {
        expiresIn = parseDuration(flags.exp)
      } catch (e) {
        throw usage(`--exp: ${(e as Error).message}, or "never"`)
      }
      if (expiresIn === 0) throw usage('--exp must be longer than 0s')
    }
    for (const m of flags.machine) {
      if (!/^[a-z0-9*?-]{1,63}$/.test(m)) throw usage(`--machine: "${m.slice(0, 40)}" is not a machine name or glob (a-z 0-9 - * ?)`)
    }
    const made = ctx.tokens.issueApiKey(ctx.principal, { label: flags.label, cmds, expiresIn, machines: flags.machine.length > 0 ? flags.machine : undefined })
    // Only the token: stdout is the secret and nothing else. `ssh-key list` shows the key.
    return { token: made.token }
  },
  human: (r) => r.token,
})
