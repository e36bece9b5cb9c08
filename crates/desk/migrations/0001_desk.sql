-- The desk's own store. It holds the only plaintext of a tenant's
-- submissions, and even that only encrypted at rest (`payload`, under a
-- key derived from the unlocked tenant key), so a copied desk database is
-- unreadable too. One schema for SQLite and PostgreSQL.

-- Where the pull from the counter stands: the last 到達番号 stored.
CREATE TABLE sync_cursor (
    tenant_id   TEXT PRIMARY KEY,
    after_year  BIGINT NOT NULL,
    after_seq   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Form versions as published on the counter, to read records with.
CREATE TABLE forms (
    form_id     TEXT NOT NULL,
    version     BIGINT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (form_id, version)
);

CREATE TABLE records (
    receipt_year       BIGINT NOT NULL,
    receipt_seq        BIGINT NOT NULL,
    form_id            TEXT NOT NULL,
    form_version       BIGINT NOT NULL,
    key_id             TEXT NOT NULL,
    record_sha256      TEXT NOT NULL,
    sealed             BYTEA NOT NULL,
    payload            BYTEA NOT NULL,
    received_at        BIGINT NOT NULL,
    synced_at          BIGINT NOT NULL,
    -- The resident's message key (from the counter): messages to the
    -- resident are sealed to it.
    message_key        TEXT NOT NULL,
    status             TEXT NOT NULL,
    status_changed_at  BIGINT NOT NULL,
    status_pushed_at   BIGINT,
    assigned_to        TEXT,
    PRIMARY KEY (receipt_year, receipt_seq)
);
CREATE INDEX records_by_form ON records (form_id, status, received_at);

-- Who read or exported what, and when.
CREATE TABLE access_log (
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    receipt_year  BIGINT,
    receipt_seq   BIGINT,
    detail        TEXT NOT NULL
);
