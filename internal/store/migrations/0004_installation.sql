-- One row: the id of this installation (every server on this database).
-- It keys what the installation creates on shared systems, such as the
-- containers and networks of environments on a Docker engine that other
-- installations use too.
CREATE TABLE installation (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    created_at {{time}} NOT NULL
);
