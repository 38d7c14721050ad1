-- gikev2 GCKS database, schema version 3.
-- Whether each registered member negotiated IKE fragmentation (IKEV2_FRAGMENTATION_SUPPORTED in
-- its IKE_SA_INIT, RFC 7383 2.3): a multicast GSA_REKEY may be fragmented only when every member
-- registered to the group did (RFC 9838 2.4.1.2). Rows from before this version are not known to
-- support it and read as 0, so such a group's GSA_REKEY is sent whole until they re-register.
ALTER TABLE registrations ADD COLUMN frag_ok INTEGER NOT NULL DEFAULT 0 CHECK (frag_ok IN (0, 1));
-- "Does any member of the group lack fragmentation?" is asked on every GSA_REKEY: one index probe.
CREATE INDEX registrations_no_frag ON registrations(group_id) WHERE frag_ok = 0;
