-- gikev2 GCKS database, schema version 6.
-- Key management of multicast groups (policy rekey: key-management, degree): 0 simple (the
-- Rekey SA key under the default KWK), 1 lkh (a logical key hierarchy, RFC 9838 Appendix A).
ALTER TABLE groups ADD COLUMN kek_key_mgmt INTEGER NOT NULL DEFAULT 0 CHECK (kek_key_mgmt IN (0, 1));
ALTER TABLE groups ADD COLUMN kek_lkh_degree INTEGER NOT NULL DEFAULT 0
	CHECK (kek_lkh_degree = 0 OR kek_lkh_degree BETWEEN 2 AND 16);
-- The key tree of an lkh group: its shape and the next Key ID, which only ever grows, so that a
-- Key ID never names two keys a member may hold (RFC 9838 3.3). Written in the same transaction
-- as the Rekey SA key and Message ID of the GSA_REKEY that announces a change, before it leaves.
CREATE TABLE lkh_trees (
	group_id    INTEGER PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,
	degree      INTEGER NOT NULL CHECK (degree BETWEEN 2 AND 16),
	depth       INTEGER NOT NULL CHECK (depth BETWEEN 1 AND 63),
	key_len     INTEGER NOT NULL CHECK (key_len IN (16, 24, 32)),
	next_key_id INTEGER NOT NULL CHECK (next_key_id BETWEEN 1 AND 4294967295)
);
-- Its nodes by heap position (the children of p are degree*p+1 .. degree*p+degree; 0, the root,
-- is the Rekey SA): a leaf names its member; dirty marks a key members below do not hold yet.
CREATE TABLE lkh_nodes (
	group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 4294967295),
	key_id   INTEGER NOT NULL CHECK (key_id BETWEEN 1 AND 4294967294),
	key      BLOB NOT NULL CHECK (length(key) IN (16, 24, 32)),
	member   TEXT CHECK (member IS NULL OR length(CAST(member AS BLOB)) BETWEEN 1 AND 599),
	dirty    INTEGER NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
	PRIMARY KEY (group_id, position)
) WITHOUT ROWID;
