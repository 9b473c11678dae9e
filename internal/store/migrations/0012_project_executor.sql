-- A project may run its jobs with another executor than the server's
-- (shell, docker, kubernetes or auto); empty: the server's.
ALTER TABLE projects ADD COLUMN executor TEXT NOT NULL DEFAULT '';
