-- The ledger: an append-only Merkle log (RFC 6962) of everything that
-- happens. Each row keeps the event's fields and its leaf hash; signed
-- checkpoints (kept here and in the vault) pin the tree, so editing,
-- deleting or reordering rows is found by `madoguchi ledger verify`.

-- One row: the next leaf index. Taking it is a row lock held to commit,
-- so indexes are gap-free and in commit order.
CREATE TABLE ledger_head (
    id         BIGINT PRIMARY KEY,
    next_index BIGINT NOT NULL
);
INSERT INTO ledger_head (id, next_index) VALUES (1, 0);

CREATE TABLE ledger_leaves (
    leaf_index  BIGINT PRIMARY KEY,
    leaf_hash   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    tenant_id   TEXT,
    source      TEXT,
    subject     TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX ledger_leaves_by_tenant ON ledger_leaves (tenant_id, at);

CREATE TABLE ledger_checkpoints (
    tree_size   BIGINT PRIMARY KEY,
    note        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The leaf that records each submission, named on the receipt.
ALTER TABLE submissions ADD COLUMN ledger_index BIGINT;
