-- The postal-code table behind the resident pages' address help
-- (docs/postal.md): Japan Post's KEN_ALL as `madoguchi postal import`
-- reads it, or the demo prefecture's small table. Public data, replaced
-- whole by each import. One row per (code, 町域); `seq` keeps the file's
-- order, so a code's towns come back as Japan Post lists them.
CREATE TABLE postal_codes (
    code        TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    prefecture  TEXT NOT NULL,
    city        TEXT NOT NULL,
    town        TEXT NOT NULL,
    PRIMARY KEY (code, seq)
);
