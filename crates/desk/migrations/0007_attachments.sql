-- Files attached to records (issue 9), kept as the counter sealed them: to
-- the tenant key, chunk by chunk, so at rest they are no more readable
-- here than on the counter. In pieces of 1 MiB, so no file is read whole.
-- A file is whole once its row in `attachments` is there (written after
-- every piece, and after the file was checked against its record).
CREATE TABLE attachment_pieces (
    receipt_year  BIGINT NOT NULL,
    receipt_seq   BIGINT NOT NULL,
    attachment_id TEXT NOT NULL,
    piece         BIGINT NOT NULL,
    bytes         BYTEA NOT NULL,
    PRIMARY KEY (receipt_year, receipt_seq, attachment_id, piece)
);

CREATE TABLE attachments (
    receipt_year  BIGINT NOT NULL,
    receipt_seq   BIGINT NOT NULL,
    attachment_id TEXT NOT NULL,
    -- The counter's vault name of the sealed file, as the record names it.
    sealed_name   TEXT NOT NULL,
    pieces        BIGINT NOT NULL,
    stored_at     BIGINT NOT NULL,
    PRIMARY KEY (receipt_year, receipt_seq, attachment_id)
);
