-- gikev2 GCKS database, schema version 4.
-- Single-sender counter-mode TEKs (counter-mode cipher with 32-bit Sequential Numbers) that a
-- sender identity may hold: handed to it at registration, or sent to the group by a rekey while
-- it was registered as sender. Linux derives such an SA's IVs from its sequence number, which
-- starts at 1 again each time the SA is installed (doc/sender-iv.md), so the GCKS never hands
-- such a TEK to the same sender twice: the group is rekeyed first. Rows of keys the group no
-- longer has are removed when rows are added.
CREATE TABLE sender_teks (
	group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	spi      BLOB NOT NULL CHECK (length(spi) = 4),
	member   TEXT NOT NULL CHECK (length(CAST(member AS BLOB)) BETWEEN 1 AND 599),
	PRIMARY KEY (group_id, spi, member)
) WITHOUT ROWID;
-- When a sender's registration last forced such a rekey of the group (unix seconds): a sender
-- that registers again and again forces one per GK_SENDER_REKEY_INTERVAL_S at most.
CREATE TABLE sender_rekeys (
	group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	member   TEXT NOT NULL CHECK (length(CAST(member AS BLOB)) BETWEEN 1 AND 599),
	at       INTEGER NOT NULL,
	PRIMARY KEY (group_id, member)
) WITHOUT ROWID;
