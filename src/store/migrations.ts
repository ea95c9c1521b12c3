// Versioned schema. Append only: never edit a shipped migration, add the next one.
export interface Migration {
  version: number
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'users and ssh keys',
    sql: `
      CREATE TABLE users (
        id          TEXT PRIMARY KEY,
        email       TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL CHECK (role IN ('admin', 'user')),
        status      TEXT NOT NULL CHECK (status IN ('active', 'disabled')) DEFAULT 'active',
        expires_at  TEXT,
        created_at  TEXT NOT NULL
      );
      CREATE TABLE ssh_keys (
        id            TEXT PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        public_key    TEXT NOT NULL,
        fingerprint   TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        last_used_at  TEXT,
        removed_at    TEXT
      );
      -- A key belongs to one account at a time; a removed key may be registered again.
      CREATE UNIQUE INDEX ssh_keys_fingerprint_active ON ssh_keys(fingerprint) WHERE removed_at IS NULL;
      CREATE UNIQUE INDEX ssh_keys_user_name_active ON ssh_keys(user_id, name) WHERE removed_at IS NULL;
      CREATE INDEX ssh_keys_user ON ssh_keys(user_id);
    `,
  },
  {
    version: 2,
    name: 'token handles (boxd1)',
    sql: `
      -- A boxd1 handle stands for one stored boxd0 token, re-verified on every use. The handle is
      -- never stored: it is HMAC-SHA256(salt, token), so token shorten can hand the same one back,
      -- and it is found by the SHA-256 of what the caller presents (an index probe, not a string
      -- comparison against a secret).
      CREATE TABLE token_handles (
        id               TEXT PRIMARY KEY,
        user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        handle_hash      BLOB NOT NULL UNIQUE,
        salt             BLOB NOT NULL,
        token            TEXT NOT NULL,
        token_hash       BLOB NOT NULL,
        key_fingerprint  TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        last_used_at     TEXT,
        revoked_at       TEXT
      );
      -- Same boxd0 → same live handle (idempotent shorten); a revoked one is replaced, never revived.
      CREATE UNIQUE INDEX token_handles_user_token_live ON token_handles(user_id, token_hash) WHERE revoked_at IS NULL;
      CREATE INDEX token_handles_user ON token_handles(user_id);
    `,
  },
  {
    version: 3,
    name: 'machines',
    sql: `
      CREATE TABLE machines (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        driver         TEXT NOT NULL,
        image          TEXT NOT NULL,
        -- intent: what the user asked for; status: what boxd last saw
        desired        TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
        status         TEXT NOT NULL CHECK (status IN ('creating', 'running', 'stopping', 'stopped', 'failed')),
        status_reason  TEXT,
        spec           TEXT NOT NULL,   -- JSON: env, cpu, memory_bytes, network, command
        tags           TEXT NOT NULL DEFAULT '[]',
        comment        TEXT NOT NULL DEFAULT '',
        proxy_port     INTEGER NOT NULL DEFAULT 8000,
        created_at     TEXT NOT NULL,
        started_at     TEXT,
        updated_at     TEXT NOT NULL
      );
      CREATE INDEX machines_user ON machines(user_id, name);
    `,
  },
]
