-- gikev2 GCKS database on PostgreSQL, schema version 9 (as schema/009_server_instance.sql).
-- Each run of a server writes a random nonce of its own with its heartbeat: another nonce with
-- a fresh heartbeat is another live gcksd under the same id.
ALTER TABLE servers ADD COLUMN instance TEXT NOT NULL DEFAULT '' CHECK (octet_length(instance) <= 32);
