-- gikev2 GCKS database on PostgreSQL, schema version 5 (as schema/005_max_packet_rate.sql).
ALTER TABLE groups ADD COLUMN max_packet_rate BIGINT NOT NULL DEFAULT 100000
	CHECK (max_packet_rate BETWEEN 0 AND 4294967295);
