// The JSON shape of a machine, shared by the machine verbs (exe.dev's field names where they exist).
import type { Ctx } from '../registry/types.js'
import type { MachineRow } from '../store/index.js'
import { table, shortTime } from '../registry/render.js'

export interface MachineView {
  name: string
  status: string
  image: string
  driver: string
  created_at: string
  ssh_command: string
  ssh_dest: string
  https_url: string
  proxy_port: number
  tags: string[]
  comment: string
}

export function machineView(row: MachineRow, ctx: Pick<Ctx, 'config'>): MachineView {
  const { domain, sshPort, httpsPort, httpPort } = ctx.config
  const dest = `${row.name}@${domain}`
  const web = httpsPort !== undefined || httpPort === undefined
    ? `https://${row.name}.${domain}${(httpsPort ?? 8443) === 443 ? '' : `:${httpsPort ?? 8443}`}/`
    : `http://${row.name}.${domain}${httpPort === 80 ? '' : `:${httpPort}`}/`
  return {
    name: row.name,
    status: row.status,
    image: row.image,
    driver: row.driver,
    created_at: row.created_at,
    ssh_command: sshPort === 22 ? `ssh ${dest}` : `ssh -p ${sshPort} ${dest}`,
    ssh_dest: dest,
    https_url: web,
    proxy_port: row.proxy_port,
    tags: JSON.parse(row.tags) as string[],
    comment: row.comment,
  }
}

export const machineTable = (ms: MachineView[]) =>
  table(ms, { name: (m) => m.name, status: (m) => m.status, image: (m) => m.image, tags: (m) => m.tags, created: (m) => shortTime(m.created_at), ssh: (m) => m.ssh_command }, 'no machines (create one with `new`)')
