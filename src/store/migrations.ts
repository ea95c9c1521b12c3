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
  {
    version: 4,
    name: 'audit log, events, webhooks and their outbox, tasks',
    sql: `
      -- Who did what, through which door. No foreign key to users: the trail outlives the account.
      CREATE TABLE audit_log (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        at              TEXT NOT NULL,
        user_id         TEXT,
        user_email      TEXT,
        via             TEXT NOT NULL,          -- ssh-key | token | local
        key_fingerprint TEXT,
        token_id        TEXT,
        door            TEXT NOT NULL,          -- ssh | http | local
        remote_address  TEXT,
        verb            TEXT NOT NULL,          -- resolved verb, or the (redacted) first word of an unknown line
        machines        TEXT,                   -- JSON array of machine-typed inputs, for --machine
        args            TEXT,                   -- JSON, secrets redacted; NULL when the line did not parse
        code            TEXT NOT NULL,          -- ok | an error code
        duration_ms     REAL NOT NULL,
        request_id      TEXT NOT NULL
      );
      CREATE INDEX audit_log_at ON audit_log(at);
      CREATE INDEX audit_log_user_at ON audit_log(user_id, at);
      CREATE INDEX audit_log_email_at ON audit_log(user_email, at);

      CREATE TABLE events (
        id          TEXT PRIMARY KEY,
        type        TEXT NOT NULL,
        user_id     TEXT,                       -- whose event it is (no FK: history outlives the account)
        machine     TEXT,
        data        TEXT NOT NULL,              -- JSON
        created_at  TEXT NOT NULL
      );
      CREATE INDEX events_created ON events(created_at);
      CREATE INDEX events_user_created ON events(user_id, created_at);

      CREATE TABLE webhooks (
        id             TEXT PRIMARY KEY,
        user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        url            TEXT NOT NULL,
        events         TEXT NOT NULL,           -- JSON array of type globs; [] = every type
        all_users      INTEGER NOT NULL DEFAULT 0,  -- admins only: every user's events
        secret_sealed  TEXT NOT NULL,           -- secretbox under the data dir's sealing key
        created_at     TEXT NOT NULL
      );
      CREATE INDEX webhooks_user ON webhooks(user_id);

      -- The outbox: one row per (event, webhook), written in the state change's transaction.
      CREATE TABLE webhook_deliveries (
        id               TEXT PRIMARY KEY,
        webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id         TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  TEXT,
        last_attempt_at  TEXT,
        response_status  INTEGER,
        last_error       TEXT,
        created_at       TEXT NOT NULL,
        completed_at     TEXT
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
      CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, created_at);
      CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

      CREATE TABLE tasks (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        progress     TEXT,
        result       TEXT,                      -- JSON
        error        TEXT,                      -- JSON {error, code, hint?}
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        finished_at  TEXT
      );
      CREATE INDEX tasks_user_created ON tasks(user_id, created_at);
      CREATE INDEX tasks_status ON tasks(status);
    `,
  },
  {
    version: 5,
    name: 'reaching machines: port forwards, proxy port flags, shares, browser sessions',
    sql: `
      -- Raw TCP: host_port on --ports-listen forwards to the machine's 127.0.0.1:port.
      CREATE TABLE port_forwards (
        id          TEXT PRIMARY KEY,
        machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
        port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        host_port   INTEGER NOT NULL UNIQUE CHECK (host_port BETWEEN 1 AND 65535),
        allow       TEXT NOT NULL,              -- JSON array of source CIDRs (--to)
        created_at  TEXT NOT NULL,
        UNIQUE (machine_id, port)
      );
      -- HTTPS proxy: a machine port with a row and public = 1 is reachable without credentials;
      -- no row means private.
      CREATE TABLE proxy_ports (
        machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
        port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        public      INTEGER NOT NULL CHECK (public IN (0, 1)),
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (machine_id, port)
      );
      -- Proxy access (not a shell) for other accounts, by email: a share may precede the signup.
      CREATE TABLE machine_shares (
        machine_id  TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
        email       TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (machine_id, email)
      );
      -- Browser access: one-time magic links and the sessions they start. Only SHA-256 hashes of
      -- the secrets are stored; a secret is found by the hash of what the browser presents.
      CREATE TABLE browser_links (
        secret_hash  BLOB PRIMARY KEY,
        machine_id   TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at   TEXT NOT NULL,
        created_at   TEXT NOT NULL
      );
      CREATE INDEX browser_links_expires ON browser_links(expires_at);
      CREATE TABLE browser_sessions (
        secret_hash  BLOB PRIMARY KEY,
        machine_id   TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at   TEXT NOT NULL,
        created_at   TEXT NOT NULL
      );
      CREATE INDEX browser_sessions_expires ON browser_sessions(expires_at);
      CREATE INDEX browser_sessions_user ON browser_sessions(user_id);
    `,
  },
  {
    version: 6,
    name: 'the audit trail moves to its own file, audit.db (src/store/audit-migrations.ts)',
    // Its rows were copied into audit.db before this runs (src/store/index.ts absorbLegacyAudit).
    // Schema-qualified: audit.db is attached to this connection as "audit" and has a table of the
    // same name.
    sql: `
      DROP TABLE IF EXISTS main.audit_log;
    `,
  },
]
