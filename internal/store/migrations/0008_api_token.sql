-- One row: the API token `slipway serve` made at its first start because
-- no api_token_env was configured. Every server on this database uses it,
-- so that their UI sessions (keyed with the token) stay valid on each.
CREATE TABLE api_token (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    token      TEXT NOT NULL,
    created_at {{time}} NOT NULL
);
