-- Projects whose forge cannot send webhooks are polled for new commits.
ALTER TABLE projects ADD COLUMN poll BOOLEAN NOT NULL DEFAULT FALSE;
