// Placeholder: the HTTPS door (issue 4) replaces this file.
import type { App } from '../app.js'
import type { Door } from '../server.js'

export async function startHttpServers(_app: App): Promise<Door> {
  return { banner: ['https: not built yet'], close: async () => {} }
}
