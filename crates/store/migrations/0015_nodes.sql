-- Scale-out (issue 10): the counter nodes that answered their readiness
-- probe, and when. Each node writes its own row (a random id per start),
-- so a probe is a real write on the database every node shares.
CREATE TABLE counter_nodes (
    node_id  TEXT PRIMARY KEY,
    seen_at  BIGINT NOT NULL
);
