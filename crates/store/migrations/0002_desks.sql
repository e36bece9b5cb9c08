-- Desks: the back offices that pull a tenant's sealed records. Each signs
-- its requests with an Ed25519 key registered here by an operator.
CREATE TABLE desks (
    desk_id        TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    public_key     TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    registered_at  BIGINT NOT NULL,
    suspended_at   BIGINT
);

-- Every pull, with the desk's identity and the range it received.
CREATE TABLE desk_pulls (
    desk_id       TEXT NOT NULL REFERENCES desks (desk_id),
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    pulled_at     BIGINT NOT NULL,
    source        TEXT NOT NULL,
    after_year    BIGINT NOT NULL,
    after_seq     BIGINT NOT NULL,
    record_count  BIGINT NOT NULL
);
CREATE INDEX desk_pulls_by_desk ON desk_pulls (desk_id, pulled_at);

-- Nonces of signed desk requests seen recently: a captured request cannot
-- be replayed.
CREATE TABLE desk_nonces (
    desk_id  TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    seen_at  BIGINT NOT NULL,
    PRIMARY KEY (desk_id, nonce)
);
