// Placeholder: the SSH door (issue 3) replaces this file.
import type { App } from '../app.js'
import type { Door } from '../server.js'

export async function startSshServer(_app: App): Promise<Door> {
  return { banner: ['ssh: not built yet'], close: async () => {} }
}
