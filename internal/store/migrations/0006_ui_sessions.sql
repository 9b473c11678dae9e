-- Sessions of the web UI: a browser that signed in with the API token holds
-- a random session id in a cookie, never the token. The row keeps only the
-- SHA-256 of that id (a copy of the database signs no one in), and token_mac,
-- an HMAC of the id keyed with the API token the session was made under, so
-- that a server with another token refuses it without the database holding
-- anything from which the token could be guessed offline.
-- No index beyond the key: lookups are by id_hash, and the periodic cleanup
-- of expired rows scans a table of one row per signed-in browser.
CREATE TABLE ui_sessions (
    id_hash      TEXT PRIMARY KEY,
    token_mac    TEXT NOT NULL,
    created_at   {{time}} NOT NULL,
    expires_at   {{time}} NOT NULL,
    last_seen_at {{time}} NOT NULL
);
