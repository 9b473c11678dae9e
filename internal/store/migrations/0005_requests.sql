-- A cancel asked of any server: the server that runs the pipeline sees it on
-- its next heartbeat and cancels its run. NULL: no cancel was asked since the
-- pipeline last started (a retry clears it).
ALTER TABLE pipelines ADD COLUMN cancel_requested_at {{time}};
CREATE INDEX pipelines_cancel_requested ON pipelines (server_id) WHERE cancel_requested_at IS NOT NULL;

-- The stop job attempt that carries out an environment's current stop, once
-- a server started it: its end decides between stopped and stop_failed. NULL
-- while the stop waits (for the deploy pipeline to end, say).
ALTER TABLE environments ADD COLUMN stop_job_id BIGINT;
CREATE INDEX environments_by_state ON environments (state);
