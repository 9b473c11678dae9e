-- Webhook deliveries, recorded before the forge is answered and turned into
-- pipelines in the background: a restart loses none. A delivery with the
-- forge's id (X-GitHub-Delivery...) is recorded once per project, so that a
-- redelivery is recognised. status: queued, running (server_id works on it),
-- done or failed (message says why).
CREATE TABLE webhook_deliveries (
    id          {{id}},
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    delivery    TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued',
    server_id   BIGINT,
    pipeline_id BIGINT,
    message     TEXT NOT NULL DEFAULT '',
    created_at  {{time}} NOT NULL,
    finished_at {{time}}
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (project_id, provider, delivery) WHERE delivery <> '';
CREATE INDEX webhook_deliveries_queued ON webhook_deliveries (status, id);
