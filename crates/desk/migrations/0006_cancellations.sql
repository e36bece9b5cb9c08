-- Bookings residents cancelled at the counter (issue 9): how far this desk
-- has read the counter's cancellations (unix seconds of the last one).
CREATE TABLE cancellation_cursor (
    tenant_id TEXT PRIMARY KEY,
    since     BIGINT NOT NULL
);
