-- Project names are unique whatever their case: a project's registry
-- namespace is its lower-cased name, so "Shop" and "shop" would share one
-- and each one's job token would push into the other's repositories.
CREATE UNIQUE INDEX projects_name_nocase ON projects (lower(name));
