-- Resident participation (issue 11): 電子会議室 (discussion rooms) and
-- パブリックコメント (public comment), their participants, posts,
-- moderators' notes, residents' reports, the closing report, and the
-- counts behind the rate limits. Posts are public by nature and kept as
-- typed (rendered only through participation::markup::render). Accounts
-- are not: a participant's login id is kept only as a keyed hash (the key
-- is the counters' shared token key, not in the database), the password as
-- argon2id; no e-mail address is ever asked for.

-- The rules of use (利用規約) a tenant published, each version kept:
-- participants name the version (and its hash) they accepted. A tenant
-- without a row uses the default text shipped in the counter (version 0).
CREATE TABLE room_rules (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    version       BIGINT NOT NULL,
    text_ja       TEXT NOT NULL,
    text_en       TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    published_at  BIGINT NOT NULL,
    published_by  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- Per tenant, the protections of participants under 18; no row: all on.
CREATE TABLE room_settings (
    tenant_id             TEXT PRIMARY KEY REFERENCES tenants (id),
    minors_premoderated   BIGINT NOT NULL DEFAULT 1,
    minors_name_withheld  BIGINT NOT NULL DEFAULT 1,
    updated_at            BIGINT NOT NULL,
    updated_by            TEXT NOT NULL
);

-- kind: discussion | public_comment (then opens_at and closes_at are set);
-- moderation: before (事前承認) | after (事後削除). last_post numbers the
-- room's posts; taking the next number locks the room's row.
CREATE TABLE rooms (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    id                   TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    moderation           TEXT NOT NULL,
    title_ja             TEXT NOT NULL,
    title_en             TEXT NOT NULL,
    description_ja       TEXT NOT NULL,
    description_en       TEXT NOT NULL,
    opens_at             BIGINT,
    closes_at            BIGINT,
    last_post            BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    created_by           TEXT NOT NULL,
    -- The public comment's closing report: a draft until published.
    report_summary_ja    TEXT,
    report_summary_en    TEXT,
    report_published_at  BIGINT,
    report_published_by  TEXT,
    PRIMARY KEY (tenant_id, id)
);

-- A participant of one tenant's rooms. generation ends sessions: a
-- session token names the generation it was issued under, and signing
-- out moves it on. The throttle columns are identity::Throttle's.
CREATE TABLE room_participants (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    login_hmac      TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    nickname        TEXT NOT NULL,
    minor           BIGINT NOT NULL,
    rules_version   BIGINT NOT NULL,
    rules_sha256    TEXT NOT NULL,
    generation      BIGINT NOT NULL DEFAULT 0,
    failed_logins   BIGINT NOT NULL DEFAULT 0,
    not_before      BIGINT NOT NULL DEFAULT 0, -- unix ms
    locked          BIGINT NOT NULL DEFAULT 0,
    last_post_at    BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX room_participants_login ON room_participants (tenant_id, login_hmac);

-- visibility: pending | published | hidden (participation::Visibility).
-- parent_seq: the post a reply answers (one level). opinion_of is the
-- participant in a public comment and NULL in a discussion, so the unique
-- index below is the "one opinion each" rule whatever the concurrency.
-- answer is the tenant's answer (市の考え方) in the closing report.
CREATE TABLE room_posts (
    tenant_id       TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    participant_id  TEXT NOT NULL,
    parent_seq      BIGINT,
    body            TEXT NOT NULL,
    body_sha256     TEXT NOT NULL,
    visibility      TEXT NOT NULL,
    hidden_reason   TEXT,
    opinion_of      TEXT,
    answer          TEXT,
    created_at      BIGINT NOT NULL,
    moderated_at    BIGINT,
    moderated_by    TEXT,
    ledger_index    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, room_id, seq),
    FOREIGN KEY (tenant_id, room_id) REFERENCES rooms (tenant_id, id)
);
CREATE UNIQUE INDEX room_posts_one_opinion_each ON room_posts (tenant_id, room_id, opinion_of);
CREATE INDEX room_posts_by_participant ON room_posts (tenant_id, participant_id, created_at);

-- Moderators' notes under a post (「市からの注記」).
CREATE TABLE room_notes (
    tenant_id     TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    ledger_index  BIGINT NOT NULL,
    note          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, room_id, seq, ledger_index)
);

-- A participant's report (通報) of a post: one each per post. reviewed_at
-- is set when a moderator acts on the post.
CREATE TABLE room_reports (
    tenant_id       TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    participant_id  TEXT NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    reviewed_at     BIGINT,
    PRIMARY KEY (tenant_id, room_id, seq, participant_id)
);

-- Recent attempts per rate-limit key (a keyed hash of an address prefix:
-- never an address), deleted once past expires_at.
CREATE TABLE room_rate_events (
    scope       TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX room_rate_events_by_key ON room_rate_events (scope, key_hash, at);
CREATE INDEX room_rate_events_expiry ON room_rate_events (expires_at);
