-- gikev2 GCKS database, schema version 10.
-- Multiple key exchanges (RFC 9370): per group the additional key exchanges a member's IKE SA
-- must have run (policy field additional-key-exchanges), method names separated by commas in
-- order ("p384,x25519"); "" for none, as for groups from before this version.
ALTER TABLE groups ADD COLUMN addke TEXT NOT NULL DEFAULT '' CHECK (length(addke) <= 127);
