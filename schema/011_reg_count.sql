-- gikev2 GCKS database, schema version 11.
-- A group's number of registered members is counted from the registrations table (count(*) on
-- its (group_id, member) index) when gcksd loads the group and when gcksctl shows it; gcksd keeps
-- the number in memory from then on. The two triggers that kept it as a counter row cost every
-- registration a trigger program and an upsert into counters, whose CHECK on the counter's name
-- (a list of three) SQLite evaluated through a temporary index made for each row: 42,000 of the
-- 60,000 instructions a registration spent in SQLite.
DROP TRIGGER registrations_count_ins;
DROP TRIGGER registrations_count_del;
-- counters keeps the values that must never repeat. A CHECK cannot be altered in SQLite: the table
-- is made again with its rows, and its CHECK allows only the names still used (compared directly:
-- SQLite puts a list of more than two into a temporary index).
CREATE TABLE counters_v11 (
	group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	name     TEXT NOT NULL CHECK (name IN ('sender_id', 'rekey_msgid')),
	value    INTEGER NOT NULL CHECK (value >= 0),
	PRIMARY KEY (group_id, name)
) WITHOUT ROWID;
INSERT INTO counters_v11 (group_id, name, value)
	SELECT group_id, name, value FROM counters WHERE name <> 'registrations';
DROP TABLE counters;
ALTER TABLE counters_v11 RENAME TO counters;
