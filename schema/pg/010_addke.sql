-- gikev2 GCKS database on PostgreSQL, schema version 10 (as schema/010_addke.sql).
ALTER TABLE groups ADD COLUMN addke TEXT NOT NULL DEFAULT '' CHECK (length(addke) <= 127);
