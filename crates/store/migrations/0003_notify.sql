-- Mail to residents when the status of their submission changes.

-- The resident's e-mail address, sealed to the counter's notification key
-- (seal::NotificationKey), bound to the record; cleared once the case is
-- closed (完了 / 却下) and its last mail has gone out.
ALTER TABLE submissions ADD COLUMN notify_address BYTEA;

-- One mail per applied status change; no address and no content here.
CREATE TABLE mail_outbox (
    tenant_id      TEXT NOT NULL,
    receipt_year   BIGINT NOT NULL,
    receipt_seq    BIGINT NOT NULL,
    changed_at     BIGINT NOT NULL,
    status         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    claimed_until  BIGINT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,
    sent_at        BIGINT,
    PRIMARY KEY (tenant_id, receipt_year, receipt_seq, changed_at)
);
CREATE INDEX mail_outbox_pending ON mail_outbox (sent_at, claimed_until);
