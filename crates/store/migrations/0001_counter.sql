-- The counter's schema. One file for both engines: only types and syntax
-- that SQLite and PostgreSQL read alike (TEXT, BIGINT, BYTEA, ON CONFLICT,
-- RETURNING). Times are Unix seconds. Nothing here holds a resident's
-- plaintext: submissions are sealed records.

CREATE TABLE tenant_groups (
    id          TEXT PRIMARY KEY,
    name_ja     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    group_id    TEXT REFERENCES tenant_groups (id),
    name_ja     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    contact_ja  TEXT NOT NULL,
    contact_en  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A tenant's public keys; the one with the highest generation seals new
-- records, older ones stay listed so records name a known key.
CREATE TABLE tenant_keys (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    key_id      TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    added_at    BIGINT NOT NULL,
    retired_at  BIGINT,
    PRIMARY KEY (tenant_id, key_id)
);

-- Form templates a tenant group (prefecture) publishes for its members.
CREATE TABLE form_templates (
    group_id      TEXT NOT NULL REFERENCES tenant_groups (id),
    form_id       TEXT NOT NULL,
    version       BIGINT NOT NULL,
    definition    TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    published_at  BIGINT NOT NULL,
    PRIMARY KEY (group_id, form_id, version)
);

-- A tenant's own forms, each version kept: submissions name theirs.
CREATE TABLE forms (
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    form_id           TEXT NOT NULL,
    version           BIGINT NOT NULL,
    definition        TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    template_group    TEXT,
    template_version  BIGINT,
    published_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, form_id, version)
);

-- 到達番号 are sequential per tenant and year; the row is locked by the
-- UPDATE that takes the next number, inside the submission's transaction,
-- so numbers are unique and gap-free.
CREATE TABLE receipt_sequences (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    year       BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, year)
);

CREATE TABLE submissions (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    receipt_year       BIGINT NOT NULL,
    receipt_seq        BIGINT NOT NULL,
    form_id            TEXT NOT NULL,
    form_version       BIGINT NOT NULL,
    inquiry_number     TEXT NOT NULL UNIQUE,
    -- Derived from the resident's access key (see seal::ResidentKeys): the
    -- key itself is not kept.
    secret_verifier    TEXT NOT NULL,
    message_key        TEXT NOT NULL,
    -- SHA-256 of the draft token's random id: sending one draft twice is
    -- one submission (the id itself stays in the resident's token).
    draft_sha256       TEXT NOT NULL UNIQUE,
    key_id             TEXT NOT NULL,
    record             BYTEA NOT NULL,
    record_sha256      TEXT NOT NULL,
    status             TEXT NOT NULL,
    received_at        BIGINT NOT NULL,
    status_changed_at  BIGINT NOT NULL,
    -- A message from staff with the current status, sealed on the desk to
    -- message_key: only a lookup with the access key opens it.
    staff_message      BYTEA,
    PRIMARY KEY (tenant_id, receipt_year, receipt_seq)
);

CREATE INDEX submissions_by_form ON submissions (tenant_id, form_id, received_at);
