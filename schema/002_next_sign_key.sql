-- gikev2 GCKS database, schema version 2.
-- A signing key being rolled over: GSA_REKEY messages signed with the current key announce its
-- public half (AUTH_KEY, RFC 9838 2.4.1) before it replaces the current one. Kept here so that a
-- rollover interrupted by a crash is completed (announced again) when gcksd starts.
ALTER TABLE gcks_identity ADD COLUMN next_sign_key_pem TEXT;
