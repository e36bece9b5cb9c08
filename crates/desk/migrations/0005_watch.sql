-- The watch on the desk (docs/watch.md).

-- A frozen account cannot sign in and has no sessions until a tenant
-- admin lifts the freeze after review.
ALTER TABLE staff ADD COLUMN frozen_at BIGINT;
ALTER TABLE staff ADD COLUMN frozen_reason TEXT;

-- What each read took, for the rules' memory after a restart.
ALTER TABLE access_log ADD COLUMN records BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_log ADD COLUMN honeytokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_log ADD COLUMN source TEXT;
CREATE INDEX access_log_by_time ON access_log (at);

-- Synthetic applicants this desk planted in its tenant's stream. On the
-- counter they are submissions like any other; here they are kept out of
-- every list and export, so only someone reaching past normal work (a
-- 到達番号 typed or enumerated, a stolen key re-pulling) touches one.
CREATE TABLE honeytokens (
    receipt_year  BIGINT NOT NULL,
    receipt_seq   BIGINT NOT NULL,
    planted_at    BIGINT NOT NULL,
    PRIMARY KEY (receipt_year, receipt_seq)
);
