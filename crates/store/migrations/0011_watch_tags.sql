-- Keyed tags of the synthetic applicants a desk planted (docs/watch.md):
-- HMAC of tenant and 到達番号 under a key derived from the counter's token
-- key, which is not in the database. A dump of the database alone cannot
-- tell them from residents' submissions; the counter can recognise one
-- when a desk key pulls it again.
CREATE TABLE watch_tags (
    tenant_id  TEXT NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, tag)
);
