-- gikev2 GCKS database on PostgreSQL, schema version 3 (as schema/003_reg_frag.sql).
ALTER TABLE registrations ADD COLUMN frag_ok BIGINT NOT NULL DEFAULT 0 CHECK (frag_ok IN (0, 1));
CREATE INDEX registrations_no_frag ON registrations(group_id) WHERE frag_ok = 0;
