-- When each rule of a server's registry cleanup policy last ran and runs
-- next, so that a cadence outlives restarts. Each server has its own
-- registry (in its data_dir), hence its own rows; a rule is named by its
-- repositories glob.
CREATE TABLE registry_cleanup_rules (
    server_name  TEXT NOT NULL,
    repositories TEXT NOT NULL,
    cadence_ns   BIGINT NOT NULL,
    last_run_at  {{time}},
    next_run_at  {{time}} NOT NULL,
    last_deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_name, repositories)
);
