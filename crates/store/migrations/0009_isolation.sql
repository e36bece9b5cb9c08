-- One tenant taken offline by the operator (`madoguchi tenant isolate T`):
-- its residents see the notice (お知らせ) instead of its pages, its desks
-- are refused; every counter node follows within seconds.
ALTER TABLE tenants ADD COLUMN isolated_at BIGINT;
ALTER TABLE tenants ADD COLUMN isolation_notice_ja TEXT;
ALTER TABLE tenants ADD COLUMN isolation_notice_en TEXT;
