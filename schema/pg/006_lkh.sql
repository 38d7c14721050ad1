-- gikev2 GCKS database on PostgreSQL, schema version 6 (as schema/006_lkh.sql).
ALTER TABLE groups ADD COLUMN kek_key_mgmt BIGINT NOT NULL DEFAULT 0 CHECK (kek_key_mgmt IN (0, 1));
ALTER TABLE groups ADD COLUMN kek_lkh_degree BIGINT NOT NULL DEFAULT 0
	CHECK (kek_lkh_degree = 0 OR kek_lkh_degree BETWEEN 2 AND 16);
CREATE TABLE lkh_trees (
	group_id    BIGINT PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,
	degree      BIGINT NOT NULL CHECK (degree BETWEEN 2 AND 16),
	depth       BIGINT NOT NULL CHECK (depth BETWEEN 1 AND 63),
	key_len     BIGINT NOT NULL CHECK (key_len IN (16, 24, 32)),
	next_key_id BIGINT NOT NULL CHECK (next_key_id BETWEEN 1 AND 4294967295)
);
CREATE TABLE lkh_nodes (
	group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	position BIGINT NOT NULL CHECK (position BETWEEN 1 AND 4294967295),
	key_id   BIGINT NOT NULL CHECK (key_id BETWEEN 1 AND 4294967294),
	key      BYTEA NOT NULL CHECK (length(key) IN (16, 24, 32)),
	member   TEXT CHECK (member IS NULL OR octet_length(member) BETWEEN 1 AND 599),
	dirty    BIGINT NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
	PRIMARY KEY (group_id, position)
);
