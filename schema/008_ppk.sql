-- gikev2 GCKS database, schema version 8.
-- Post-quantum preshared keys (RFC 8784): per group whether members use them (policy field
-- ppk: 0 none, 1 optional, 2 required), per member its PPK (a secret, like psk) and PPK_ID.
-- Groups and members from before this version use none.
ALTER TABLE groups ADD COLUMN ppk INTEGER NOT NULL DEFAULT 0 CHECK (ppk IN (0, 1, 2));
ALTER TABLE members ADD COLUMN ppk BLOB;                 -- secret
ALTER TABLE members ADD COLUMN ppk_id BLOB CHECK (ppk_id IS NULL OR length(ppk_id) BETWEEN 1 AND 255);
