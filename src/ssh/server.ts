// The SSH door inside `boxd serve`: host key, TCP admission, ssh2 with a modern algorithm list,
// one SshConnection per client. Everything a verb does happens in the dispatcher.
import { createServer, type Server as NetServer, type Socket } from 'node:net'
import ssh2, { type Algorithms } from 'ssh2'
import type { App } from '../app.js'
import type { Door } from '../server.js'
import { Authenticator } from './auth.js'
import { SshConnection } from './connection.js'
import { Enrollment } from './enrollment.js'
import { ConnectionGate } from './gate.js'
import { loadOrCreateHostKey } from './host-key.js'
import { sshLimits } from './limits.js'

/**
 * curve25519 first, ECDH as fallback; no DH group exchange (its moduli are the server's to pick
 * and a classic DoS/logjam surface) and nothing SHA-1. ssh2 ≥ 1.15 adds strict kex (Terrapin) itself.
 */
export const SSH_ALGORITHMS: Algorithms = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521', 'diffie-hellman-group16-sha512', 'diffie-hellman-group14-sha256'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  serverHostKey: ['ssh-ed25519'],
  compress: ['none'],
}

export interface SshDoor extends Door {
  port: number
  hostKeyFingerprint: string
  /** Live connection count (tests, metrics). */
  connections(): { total: number; unauthenticated: number }
}

export async function startSshServer(app: App): Promise<SshDoor> {
  const { config, log } = app.services
  const limits = sshLimits(config)
  const hostKey = loadOrCreateHostKey(config.dataDir)
  const enrollment = new Enrollment(app.services)
  const auth = new Authenticator(app.services, enrollment, limits.maxAuthTries)
  const gate = new ConnectionGate({
    maxUnauthenticated: limits.maxUnauthenticated,
    loginGraceMs: limits.loginGraceMs,
    onDrop: (why, s) => log.info({ why, ip: s.remoteAddress }, 'ssh unauthenticated connection dropped'),
  })
  const live = new Set<SshConnection>()
  const sockets = new Set<Socket>()
  let closing = false

  const hint = (port: number) => `ssh -p ${port} ${config.listen === '127.0.0.1' || config.listen === '::1' ? 'localhost' : config.domain}`
  const ctx = { app, auth, enrollment, limits, gate, sshHint: hint(config.sshPort), closing: () => closing }

  const ssh = new ssh2.Server({ hostKeys: [hostKey.privateKey], algorithms: SSH_ALGORITHMS, ident: 'boxd' }, (client, info) => {
    const conn = new SshConnection(ctx, client, info)
    live.add(conn)
    client.once('close', () => live.delete(conn))
  })
  // Admission happens on the raw socket, before ssh2 spends a key exchange on it.
  const tcp: NetServer = createServer({ noDelay: true }, (socket) => {
    if (closing) return void socket.destroy()
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => {}) // resets are normal on the internet; ssh2 reports what matters
    gate.admit(socket)
    if (!socket.destroyed) ssh.injectSocket(socket)
  })
  await new Promise<void>((resolveP, reject) => {
    tcp.once('error', reject)
    tcp.listen(config.sshPort, config.listen, () => {
      tcp.off('error', reject)
      resolveP()
    })
  })
  const port = (tcp.address() as { port: number }).port
  ctx.sshHint = hint(port)
  let bootstrap: string[]
  try {
    bootstrap = enrollment.prepare(ctx.sshHint)
  } catch (e) {
    tcp.close()
    throw e
  }

  return {
    port,
    hostKeyFingerprint: hostKey.fingerprint,
    banner: [
      `ssh: listening on ${config.listen}:${port}, host key ${hostKey.fingerprint}`,
      ...bootstrap,
      `ssh: signup ${config.signup ?? 'closed'}; try: ${ctx.sshHint} whoami`,
    ],
    connections: () => ({ total: sockets.size, unauthenticated: gate.unauthenticated }),
    async close() {
      if (closing) return
      closing = true
      const stopped = new Promise<void>((r) => tcp.close(() => r()))
      gate.dropAll()
      await Promise.allSettled([...live].map((c) => c.shutdown(limits.shutdownGraceMs)))
      // Give clients a moment to read the goodbye, then cut whatever is left.
      const deadline = Date.now() + 1000
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      for (const s of sockets) s.destroy()
      await stopped
    },
  }
}
