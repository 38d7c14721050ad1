-- gikev2 GCKS database on PostgreSQL, schema version 4 (as schema/004_sender_teks.sql).
CREATE TABLE sender_teks (
	group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	spi      BYTEA NOT NULL CHECK (length(spi) = 4),
	member   TEXT NOT NULL CHECK (octet_length(member) BETWEEN 1 AND 599),
	PRIMARY KEY (group_id, spi, member)
);
CREATE TABLE sender_rekeys (
	group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	member   TEXT NOT NULL CHECK (octet_length(member) BETWEEN 1 AND 599),
	at       BIGINT NOT NULL,
	PRIMARY KEY (group_id, member)
);
