-- gikev2 GCKS database, schema version 5.
-- The most packets per second one sender sends on a group SA (policy field max-packet-rate):
-- policy load refuses a single-sender SA whose lifetime would let its 32-bit sequence numbers
-- wrap at that rate (RFC 9838 2.6). Groups from before this version get the default, 100000.
ALTER TABLE groups ADD COLUMN max_packet_rate INTEGER NOT NULL DEFAULT 100000
	CHECK (max_packet_rate BETWEEN 0 AND 4294967295); -- 0: built without a policy file
