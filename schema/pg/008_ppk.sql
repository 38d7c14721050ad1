-- gikev2 GCKS database on PostgreSQL, schema version 8 (as schema/008_ppk.sql).
ALTER TABLE groups ADD COLUMN ppk INTEGER NOT NULL DEFAULT 0 CHECK (ppk IN (0, 1, 2));
ALTER TABLE members ADD COLUMN ppk BYTEA;
ALTER TABLE members ADD COLUMN ppk_id BYTEA CHECK (ppk_id IS NULL OR octet_length(ppk_id) BETWEEN 1 AND 255);
