-- The last desk event sequence number entered into the ledger, per desk:
-- a desk may send its events again (after a cut connection) and each is
-- entered once.
CREATE TABLE desk_event_cursor (
    desk_id   TEXT PRIMARY KEY,
    last_seq  BIGINT NOT NULL
);
