-- Staff of the counter's admin console: accounts, role grants, second
-- factors, sessions and passkey ceremonies. Nothing here is a resident's
-- data; secrets are stored hashed (passwords: argon2id; recovery codes and
-- session ids: SHA-256) or sealed under the counter's token key (TOTP).

CREATE TABLE staff_accounts (
    login                  TEXT PRIMARY KEY,
    display_name           TEXT NOT NULL,
    password_hash          TEXT,
    totp_sealed            TEXT,
    totp_last_step         BIGINT NOT NULL DEFAULT 0,
    enrolment_code_sha256  TEXT,
    enrolment_expires_at   BIGINT,
    enrolled_at            BIGINT,
    failed_logins          BIGINT NOT NULL DEFAULT 0,
    not_before             BIGINT NOT NULL DEFAULT 0, -- unix ms
    locked                 BIGINT NOT NULL DEFAULT 0,
    created_at             BIGINT NOT NULL,
    created_by             TEXT NOT NULL
);

-- A role held for a tenant; the operator's grant has tenant_id ''.
CREATE TABLE staff_grants (
    login      TEXT NOT NULL REFERENCES staff_accounts (login),
    role       TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    PRIMARY KEY (login, role, tenant_id)
);
CREATE INDEX staff_grants_by_tenant ON staff_grants (tenant_id);

CREATE TABLE staff_recovery_codes (
    login        TEXT NOT NULL REFERENCES staff_accounts (login),
    code_sha256  TEXT NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (login, code_sha256)
);

CREATE TABLE staff_passkeys (
    credential_id  TEXT PRIMARY KEY,
    login          TEXT NOT NULL REFERENCES staff_accounts (login),
    name           TEXT NOT NULL,
    passkey        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX staff_passkeys_by_login ON staff_passkeys (login);

-- verified = 0: the password was right, the second factor is still due.
CREATE TABLE staff_sessions (
    id_sha256   TEXT PRIMARY KEY,
    login       TEXT NOT NULL REFERENCES staff_accounts (login),
    csrf        TEXT NOT NULL,
    verified    BIGINT NOT NULL,
    source      TEXT,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
);
CREATE INDEX staff_sessions_by_login ON staff_sessions (login);

-- WebAuthn state between a challenge and its answer (any node may get
-- the answer); taken once.
CREATE TABLE staff_ceremonies (
    id          TEXT PRIMARY KEY,
    login       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX ledger_leaves_by_actor ON ledger_leaves (actor, at);
CREATE INDEX ledger_leaves_by_kind ON ledger_leaves (kind, at);
