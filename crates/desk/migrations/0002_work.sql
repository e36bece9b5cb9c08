-- Staff accounts, sessions, and the work done on records.

-- Login ids are not e-mail addresses. Passwords are argon2id PHC strings;
-- the TOTP secret is encrypted at rest like every payload.
CREATE TABLE staff (
    login                  TEXT PRIMARY KEY,
    display_name           TEXT NOT NULL,
    password_hash          TEXT,
    totp_secret            BYTEA,
    totp_last_step         BIGINT NOT NULL DEFAULT 0,
    enrolment_code_sha256  TEXT,
    enrolment_expires_at   BIGINT,
    enrolled_at            BIGINT,
    failed_logins          BIGINT NOT NULL DEFAULT 0,
    locked_until           BIGINT,
    created_at             BIGINT NOT NULL
);

-- Sessions by the SHA-256 of their cookie; each has its CSRF token.
CREATE TABLE sessions (
    id_sha256   TEXT PRIMARY KEY,
    login       TEXT NOT NULL REFERENCES staff (login),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
);

-- Every status a record went through; the message (to the resident) is
-- encrypted at rest.
CREATE TABLE status_history (
    receipt_year  BIGINT NOT NULL,
    receipt_seq   BIGINT NOT NULL,
    status        TEXT NOT NULL,
    message       BYTEA,
    actor         TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX status_history_by_record ON status_history (receipt_year, receipt_seq, at);

-- Internal comments, never sent to the counter; encrypted at rest.
CREATE TABLE comments (
    receipt_year  BIGINT NOT NULL,
    receipt_seq   BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    at            BIGINT NOT NULL,
    body          BYTEA NOT NULL
);
CREATE INDEX comments_by_record ON comments (receipt_year, receipt_seq, at);

-- The message to push with the current status, sealed to the resident's
-- message key (only the resident's access key opens it).
ALTER TABLE records ADD COLUMN push_message BYTEA;
