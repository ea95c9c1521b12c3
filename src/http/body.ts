// Reading a request body under a byte limit. The limit is enforced while reading, so a chunked
// body (no Content-Length) stops being read the moment it passes the limit.
import type { IncomingMessage } from 'node:http'
import { CommandError } from '../errors.js'

export const MAX_BODY_BYTES = 64 * 1024

function tooLarge(limit: number): CommandError {
  return new CommandError('payload_too_large', `request body is larger than ${limit / 1024} KiB`, {
    hint: 'send one command per request; pass large input to the machine over SSH',
    // The rest of the body is never read: the connection cannot be reused for another request.
    headers: { Connection: 'close' },
  })
}

function incomplete(): CommandError {
  return new CommandError('usage', 'the request body ended early', { hint: 'send the whole command' })
}

/**
 * The whole body, or `payload_too_large` as soon as it is known to exceed `limit` bytes.
 * Under @hono/node-server the Node request stream is read directly (`incoming`): cheaper than
 * the web-stream Request, and pausing it stops the upload at the limit. Elsewhere (tests with
 * app.request) the web stream is read the same way.
 */
export async function readBody(req: Request, limit = MAX_BODY_BYTES, incoming?: IncomingMessage): Promise<Buffer> {
  // An honest Content-Length over the limit is refused before a byte is read.
  const declared = incoming ? incoming.headers['content-length'] : req.headers.get('content-length')
  if (typeof declared === 'string' && /^\d+$/.test(declared) && Number(declared) > limit) throw tooLarge(limit)
  return incoming ? readIncoming(incoming, limit) : readWeb(req, limit)
}

function readIncoming(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  if (incoming.readableEnded) return Promise.resolve(Buffer.alloc(0))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (f: () => void) => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onError)
      incoming.off('close', onClose)
      f()
    }
    const onData = (c: Buffer) => {
      size += c.length
      if (size > limit) {
        // Stop reading here; the 413 goes out with Connection: close.
        incoming.pause()
        done(() => reject(tooLarge(limit)))
      } else chunks.push(c)
    }
    const onEnd = () => done(() => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)))
    const onError = () => done(() => reject(incomplete()))
    const onClose = () => done(() => (incoming.readableEnded ? resolve(Buffer.concat(chunks, size)) : reject(incomplete())))
    incoming.on('data', onData)
    incoming.on('end', onEnd)
    incoming.on('error', onError)
    incoming.on('close', onClose)
  })
}

async function readWeb(req: Request, limit: number): Promise<Buffer> {
  if (!req.body) return Buffer.alloc(0)
  const reader = req.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, size)
}
