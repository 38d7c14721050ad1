-- gikev2 GCKS database on PostgreSQL, schema version 9 (as schema/009_addke.sql).
ALTER TABLE groups ADD COLUMN addke TEXT NOT NULL DEFAULT '' CHECK (length(addke) <= 127);
