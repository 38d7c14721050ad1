-- gikev2 GCKS database, schema version 9.
-- Each run of a server writes a random nonce of its own with its heartbeat (servers.instance):
-- a second gcksd started under the id of a live one finds another nonce with a fresh heartbeat
-- and refuses to start; one that comes back after a crash takes its row over once the old
-- heartbeat is stale (gcks/storage.h, gk_store_server_beat). Rows of older versions hold ''.
ALTER TABLE servers ADD COLUMN instance TEXT NOT NULL DEFAULT '' CHECK (length(instance) <= 32);
