-- Every logged access also goes to the counter's tamper-evident ledger.
-- Each gets a sequence number here; the counter takes each number once.
CREATE TABLE event_sequence (
    id        BIGINT PRIMARY KEY,
    next_seq  BIGINT NOT NULL
);
INSERT INTO event_sequence (id, next_seq) VALUES (1, 1);

CREATE TABLE event_outbox (
    seq      BIGINT PRIMARY KEY,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT,
    detail   TEXT NOT NULL
);
