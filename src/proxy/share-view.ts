// Human rendering of a ShareView, shared by the `share` verbs.
import type { ShareView } from './shares.js'

export function shareText(v: ShareView): string {
  const lines = [`${v.machine}: ${v.url} → port ${v.proxy_port}, ${v.public ? 'public' : 'private'}`]
  for (const p of v.ports) lines.push(`  port ${String(p.port).padEnd(5)}  ${p.public ? 'public ' : 'private'}  ${p.url}`)
  lines.push(v.shared_with.length ? `  shared with: ${v.shared_with.map((s) => s.email).join(', ')}` : '  shared with: nobody')
  return lines.join('\n')
}
