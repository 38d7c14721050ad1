-- gikev2 GCKS database, schema version 7.
-- Several key servers on one shared database: the servers' heartbeats and each group's rekey
-- lease (gcks/storage.h, "several servers"), times in milliseconds of the database's clock.
-- Only a backend several gcksd share uses them (PostgreSQL, schema/pg/007_cluster.sql); a
-- SQLite database is held by one gcksd, which leads every group, and leaves these tables empty
-- so that both schemas have the same tables.
CREATE TABLE servers (
	id           TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 127),
	last_seen_ms INTEGER NOT NULL
);
CREATE TABLE leases (
	group_name TEXT PRIMARY KEY,
	holder     TEXT NOT NULL CHECK (length(holder) BETWEEN 1 AND 127),
	epoch      INTEGER NOT NULL CHECK (epoch >= 1),
	expires_ms INTEGER NOT NULL
);
