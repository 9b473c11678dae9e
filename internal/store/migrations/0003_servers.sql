-- Every `slipway serve` process registers a row and keeps seen_at fresh (its
-- heartbeat); pipelines and jobs name the row of the process that runs them,
-- so that a starting server fails only the work of servers that are gone.
-- A row is one process: a restart of the same server (same name) is a new row.
CREATE TABLE servers (
    id         {{id}},
    name       TEXT NOT NULL,
    started_at {{time}} NOT NULL,
    seen_at    {{time}} NOT NULL
);
CREATE INDEX servers_by_name ON servers (name);

-- NULL: work recorded before this migration, or by no server.
ALTER TABLE pipelines ADD COLUMN server_id BIGINT;
ALTER TABLE jobs ADD COLUMN server_id BIGINT;
CREATE INDEX pipelines_by_server ON pipelines (server_id);
