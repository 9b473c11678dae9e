-- Slipway's first schema. {{id}} and {{time}} are filled in per database
-- (internal/store/dialect.go); everything else is the same SQL on both.

CREATE TABLE projects (
    id               {{id}},
    name             TEXT NOT NULL UNIQUE,
    repo_url         TEXT NOT NULL,
    -- a reference to a secret held elsewhere (e.g. "env:GIT_TOKEN"), never the secret
    credentials_ref  TEXT NOT NULL DEFAULT '',
    default_branch   TEXT NOT NULL,
    pipeline_file    TEXT NOT NULL,
    -- HMAC key of incoming webhooks; read only through Store.WebhookSecret
    webhook_secret   TEXT NOT NULL DEFAULT '',
    -- last pipeline number given in this project
    pipeline_counter BIGINT NOT NULL DEFAULT 0,
    created_at       {{time}} NOT NULL
);

CREATE TABLE variables (
    id         {{id}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    masked     BOOLEAN NOT NULL DEFAULT FALSE,
    protected  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at {{time}} NOT NULL,
    updated_at {{time}} NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE pipelines (
    id            {{id}},
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number        BIGINT NOT NULL,
    source        TEXT NOT NULL,
    ref           TEXT NOT NULL,
    tag           BOOLEAN NOT NULL DEFAULT FALSE,
    sha           TEXT NOT NULL,
    before_sha    TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    variables     TEXT NOT NULL DEFAULT '{}',
    merge_request TEXT,
    error         TEXT NOT NULL DEFAULT '',
    created_at    {{time}} NOT NULL,
    started_at    {{time}},
    finished_at   {{time}},
    UNIQUE (project_id, number)
);
CREATE INDEX pipelines_by_project_ref ON pipelines (project_id, ref);
CREATE INDEX pipelines_by_status ON pipelines (status);

CREATE TABLE jobs (
    id             {{id}},
    pipeline_id    BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    stage          TEXT NOT NULL,
    status         TEXT NOT NULL,
    allow_failure  BOOLEAN NOT NULL DEFAULT FALSE,
    run_when       TEXT NOT NULL DEFAULT 'on_success',
    attempt        INTEGER NOT NULL DEFAULT 1,
    exit_code      INTEGER,
    failure_reason TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    log_path       TEXT NOT NULL DEFAULT '',
    runner         TEXT NOT NULL DEFAULT '',
    executor       TEXT NOT NULL DEFAULT '',
    created_at     {{time}} NOT NULL,
    started_at     {{time}},
    finished_at    {{time}}
);
CREATE INDEX jobs_by_pipeline ON jobs (pipeline_id);
CREATE INDEX jobs_by_status ON jobs (status);

CREATE TABLE schedules (
    id               {{id}},
    project_id       BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    description      TEXT NOT NULL DEFAULT '',
    cron             TEXT NOT NULL,
    timezone         TEXT NOT NULL DEFAULT 'UTC',
    ref              TEXT NOT NULL,
    variables        TEXT NOT NULL DEFAULT '{}',
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    next_run_at      {{time}} NOT NULL,
    last_pipeline_id BIGINT REFERENCES pipelines (id) ON DELETE SET NULL,
    created_at       {{time}} NOT NULL,
    updated_at       {{time}} NOT NULL
);
CREATE INDEX schedules_due ON schedules (active, next_run_at);

CREATE TABLE trigger_tokens (
    id           {{id}},
    project_id   BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    description  TEXT NOT NULL DEFAULT '',
    -- SHA-256 of the token, hex; the token itself is shown once, at creation
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at   {{time}} NOT NULL,
    last_used_at {{time}}
);

CREATE TABLE environments (
    id                 {{id}},
    project_id         BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    slug               TEXT NOT NULL,
    url                TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL,
    tier               TEXT NOT NULL,
    -- no foreign key: deployments refer to environments already
    last_deployment_id BIGINT,
    auto_stop_at       {{time}},
    on_stop_job        TEXT NOT NULL DEFAULT '',
    images             TEXT NOT NULL DEFAULT '{}',
    created_at         {{time}} NOT NULL,
    updated_at         {{time}} NOT NULL,
    UNIQUE (project_id, name),
    UNIQUE (project_id, slug)
);

CREATE TABLE deployments (
    id             {{id}},
    environment_id BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    pipeline_id    BIGINT REFERENCES pipelines (id) ON DELETE SET NULL,
    job_id         BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    ref            TEXT NOT NULL DEFAULT '',
    sha            TEXT NOT NULL,
    status         TEXT NOT NULL,
    images         TEXT NOT NULL DEFAULT '{}',
    created_at     {{time}} NOT NULL,
    finished_at    {{time}}
);
CREATE INDEX deployments_by_environment ON deployments (environment_id);
