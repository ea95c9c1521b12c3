// boxd1 handles: the stored boxd0 each one stands for. Rows are found by the SHA-256 of the
// handle; the handle itself is never stored (see migration 2 and src/auth/token-service.ts).
import type { DB } from './db.js'
import { newId } from './ids.js'

export interface TokenHandleRow {
  id: string
  user_id: string
  handle_hash: Buffer
  salt: Buffer
  token: string
  token_hash: Buffer
  key_fingerprint: string
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
}

export class TokenHandles {
  private readonly byHandle
  private readonly liveByToken
  private readonly touchStmt
  constructor(private readonly db: DB) {
    this.byHandle = db.prepare<[Buffer], TokenHandleRow>('SELECT * FROM token_handles WHERE handle_hash = ? AND revoked_at IS NULL')
    this.liveByToken = db.prepare<[string, Buffer], TokenHandleRow>('SELECT * FROM token_handles WHERE user_id = ? AND token_hash = ? AND revoked_at IS NULL')
    this.touchStmt = db.prepare('UPDATE token_handles SET last_used_at = ? WHERE id = ?')
  }

  /** The live (not revoked) handle whose SHA-256 is `hash`. */
  findLive(hash: Buffer): TokenHandleRow | undefined {
    return this.byHandle.get(hash)
  }

  /** This user's live handle for the boxd0 whose SHA-256 is `tokenHash`. */
  findLiveForToken(userId: string, tokenHash: Buffer): TokenHandleRow | undefined {
    return this.liveByToken.get(userId, tokenHash)
  }

  get(userId: string, id: string): TokenHandleRow | undefined {
    return this.db.prepare<[string, string], TokenHandleRow>('SELECT * FROM token_handles WHERE user_id = ? AND id = ? AND revoked_at IS NULL').get(userId, id)
  }

  listLive(userId: string): TokenHandleRow[] {
    return this.db.prepare<[string], TokenHandleRow>('SELECT * FROM token_handles WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, rowid').all(userId)
  }

  countLive(userId: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM token_handles WHERE user_id = ? AND revoked_at IS NULL').get(userId) as { n: number }).n
  }

  insert(h: { userId: string; handleHash: Buffer; salt: Buffer; token: string; tokenHash: Buffer; keyFingerprint: string }, now: Date): TokenHandleRow {
    const row: TokenHandleRow = {
      id: newId('tok'), user_id: h.userId, handle_hash: h.handleHash, salt: h.salt, token: h.token, token_hash: h.tokenHash,
      key_fingerprint: h.keyFingerprint, created_at: now.toISOString(), last_used_at: null, revoked_at: null,
    }
    this.db.prepare(`INSERT INTO token_handles (id, user_id, handle_hash, salt, token, token_hash, key_fingerprint, created_at, last_used_at, revoked_at)
      VALUES (@id, @user_id, @handle_hash, @salt, @token, @token_hash, @key_fingerprint, @created_at, @last_used_at, @revoked_at)`).run(row)
    return row
  }

  revoke(id: string, now: Date): void {
    this.db.prepare('UPDATE token_handles SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now.toISOString(), id)
  }

  touch(id: string, now: Date): void {
    this.touchStmt.run(now.toISOString(), id)
  }
}
