-- gikev2 GCKS database on PostgreSQL, schema version 7 (as schema/007_cluster.sql).
-- The servers' heartbeats and each group's rekey lease, times in milliseconds of the
-- database's clock (clock_timestamp()), so the servers' clocks never decide who leads.
CREATE TABLE servers (
	id           TEXT PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 127),
	last_seen_ms BIGINT NOT NULL
);
CREATE TABLE leases (
	group_name TEXT PRIMARY KEY,
	holder     TEXT NOT NULL CHECK (octet_length(holder) BETWEEN 1 AND 127),
	epoch      BIGINT NOT NULL CHECK (epoch >= 1),
	expires_ms BIGINT NOT NULL
);
