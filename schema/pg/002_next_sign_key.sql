-- gikev2 GCKS database on PostgreSQL, schema version 2 (as schema/002_next_sign_key.sql).
ALTER TABLE gcks_identity ADD COLUMN next_sign_key_pem TEXT;
