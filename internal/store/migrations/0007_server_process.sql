-- Which process a server row is: a server starting under a name that a
-- fresh row holds can tell at once, on the same machine, whether that row
-- is its own killed past (its process is gone) or a live twin.
ALTER TABLE servers ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE servers ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
