-- Where the watch's alerts go (docs/watch.md). Contacts are role
-- mailboxes of the municipality (情報セキュリティ担当), not residents.
ALTER TABLE tenants ADD COLUMN security_contacts TEXT;
ALTER TABLE tenants ADD COLUMN alert_webhook TEXT;

-- How far the ledger's alert leaves have been sent on; one counter node
-- at a time holds the lease and sends.
CREATE TABLE alert_dispatch (
    id             BIGINT PRIMARY KEY,
    last_index     BIGINT NOT NULL,
    claimed_until  BIGINT NOT NULL,
    holder         TEXT
);
-- Alerts from before this version were seen where they were raised.
INSERT INTO alert_dispatch (id, last_index, claimed_until, holder)
    SELECT 1, COALESCE(MAX(leaf_index), -1), 0, NULL FROM ledger_leaves;
