-- Each desk account holds one role of its tenant (identity::Role):
-- existing accounts become processors. not_before (unix ms) holds the
-- growing wait after failed sign-ins.
ALTER TABLE staff ADD COLUMN role TEXT NOT NULL DEFAULT 'processor';
ALTER TABLE staff ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
