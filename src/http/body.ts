// Reading a request body under a byte limit. The limit is enforced while reading, so a chunked
// body (no Content-Length) stops being read the moment it passes the limit.
import { CommandError } from '../errors.js'

export const MAX_BODY_BYTES = 64 * 1024

function tooLarge(limit: number): CommandError {
  return new CommandError('payload_too_large', `request body is larger than ${limit / 1024} KiB`, {
    hint: 'send one command per request; pass large input to the machine over SSH',
    // The rest of the body is never read: ask the client not to reuse the connection for it.
    headers: { Connection: 'close' },
  })
}

/** The whole body, or `payload_too_large` as soon as it is known to exceed `limit` bytes. */
export async function readBody(req: Request, limit = MAX_BODY_BYTES): Promise<Buffer> {
  // An honest Content-Length over the limit is refused before a byte is read.
  const declared = req.headers.get('content-length')
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) throw tooLarge(limit)
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
