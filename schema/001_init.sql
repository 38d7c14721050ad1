-- gikev2 GCKS database, schema version 1.
--
-- This file is the single source of the schema: the build turns it into a C string
-- (gcks/schema_sql.c, see mk/storage.am) and gk_store_open() runs it on a database whose
-- PRAGMA user_version is 0. A later version adds schema/002_*.sql holding only the changes;
-- never edit a file that has shipped.
--
-- Conventions: times are unix seconds; identities are an IKEv2 ID type and its raw data, with
-- the canonical text (gk_ident_text) beside them for people and for lookups by name;
-- addresses are network-order BLOBs of 4 (IPv4) or 16 octets; integers that land in
-- uint8_t/uint16_t/uint32_t fields carry CHECKs so a value can never be truncated on load.

-- The GCKS's own identity and credentials (one row).
CREATE TABLE gcks_identity (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	id_type      INTEGER NOT NULL CHECK (id_type BETWEEN 1 AND 255),
	id_data      BLOB NOT NULL CHECK (length(id_data) <= 255),
	sign_key_pem TEXT,     -- private key signing GSA_REKEY (and AUTH with certificates)
	cert_pem     TEXT,     -- optional certificate chain
	ca_pem       TEXT,     -- optional CA bundle GM certificates must chain to
	updated      INTEGER NOT NULL
);

-- One row per group; the Rekey SA (KEK) policy is inlined as kek_* columns.
CREATE TABLE groups (
	id               INTEGER PRIMARY KEY,
	name             TEXT NOT NULL UNIQUE
	                 CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 599),
	id_type          INTEGER NOT NULL CHECK (id_type BETWEEN 1 AND 255),
	id_data          BLOB NOT NULL CHECK (length(id_data) <= 255),
	capacity         INTEGER NOT NULL DEFAULT 0 CHECK (capacity BETWEEN 0 AND 4294967295),
	rekey_transport  INTEGER NOT NULL CHECK (rekey_transport IN (1, 2)), -- multicast, inband
	transport_mode   INTEGER NOT NULL DEFAULT 0 CHECK (transport_mode IN (0, 1)),
	atd              INTEGER NOT NULL DEFAULT 0 CHECK (atd BETWEEN 0 AND 65535),
	dtd              INTEGER NOT NULL DEFAULT 0 CHECK (dtd BETWEEN 0 AND 65535),
	sender_id_bits   INTEGER NOT NULL DEFAULT 0 CHECK (sender_id_bits BETWEEN 0 AND 32),
	rekey_margin_pct INTEGER NOT NULL DEFAULT 0 CHECK (rekey_margin_pct BETWEEN 0 AND 100),
	ike_idle_timeout INTEGER NOT NULL DEFAULT 0
	                 CHECK (ike_idle_timeout BETWEEN 0 AND 4294967295),

	kek_present       INTEGER NOT NULL DEFAULT 0 CHECK (kek_present IN (0, 1)),
	kek_encr          INTEGER NOT NULL DEFAULT 0 CHECK (kek_encr BETWEEN 0 AND 65535),
	kek_encr_key_bits INTEGER NOT NULL DEFAULT 0 CHECK (kek_encr_key_bits BETWEEN 0 AND 65535),
	kek_integ         INTEGER NOT NULL DEFAULT 0 CHECK (kek_integ BETWEEN 0 AND 65535),
	kek_kwa           INTEGER NOT NULL DEFAULT 0 CHECK (kek_kwa BETWEEN 0 AND 65535),
	kek_gcauth        INTEGER NOT NULL DEFAULT 0 CHECK (kek_gcauth BETWEEN 0 AND 65535),
	kek_sig_scheme    INTEGER NOT NULL DEFAULT 0,
	kek_src_family    INTEGER NOT NULL DEFAULT 0 CHECK (kek_src_family IN (0, 4, 6)),
	kek_src_start     BLOB NOT NULL,
	kek_src_end       BLOB NOT NULL,
	kek_src_ip_proto  INTEGER NOT NULL DEFAULT 0 CHECK (kek_src_ip_proto BETWEEN 0 AND 255),
	kek_src_port_lo   INTEGER NOT NULL DEFAULT 0 CHECK (kek_src_port_lo BETWEEN 0 AND 65535),
	kek_src_port_hi   INTEGER NOT NULL DEFAULT 0 CHECK (kek_src_port_hi BETWEEN 0 AND 65535),
	kek_dst_family    INTEGER NOT NULL DEFAULT 0 CHECK (kek_dst_family IN (0, 4, 6)),
	kek_dst_start     BLOB NOT NULL,
	kek_dst_end       BLOB NOT NULL,
	kek_dst_ip_proto  INTEGER NOT NULL DEFAULT 0 CHECK (kek_dst_ip_proto BETWEEN 0 AND 255),
	kek_dst_port_lo   INTEGER NOT NULL DEFAULT 0 CHECK (kek_dst_port_lo BETWEEN 0 AND 65535),
	kek_dst_port_hi   INTEGER NOT NULL DEFAULT 0 CHECK (kek_dst_port_hi BETWEEN 0 AND 65535),
	kek_lifetime      INTEGER NOT NULL DEFAULT 0 CHECK (kek_lifetime BETWEEN 0 AND 4294967295),
	kek_ttl           INTEGER NOT NULL DEFAULT 0 CHECK (kek_ttl BETWEEN 0 AND 255),
	kek_iface         TEXT NOT NULL DEFAULT '' CHECK (length(CAST(kek_iface AS BLOB)) < 16),
	kek_copies        INTEGER NOT NULL DEFAULT 0 CHECK (kek_copies BETWEEN 0 AND 65535),
	kek_interval_ms   INTEGER NOT NULL DEFAULT 0
	                  CHECK (kek_interval_ms BETWEEN 0 AND 4294967295),
	kek_frag_mtu      INTEGER NOT NULL DEFAULT 0 CHECK (kek_frag_mtu BETWEEN 0 AND 65535),

	generation       INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1),
	created          INTEGER NOT NULL,
	updated          INTEGER NOT NULL,

	UNIQUE (id_type, id_data),
	-- an unused KEK may be all zero (family 0: 16-octet addresses)
	CHECK (length(kek_src_start) = (CASE kek_src_family WHEN 4 THEN 4 ELSE 16 END)),
	CHECK (length(kek_src_end) = (CASE kek_src_family WHEN 4 THEN 4 ELSE 16 END)),
	CHECK (length(kek_dst_start) = (CASE kek_dst_family WHEN 4 THEN 4 ELSE 16 END)),
	CHECK (length(kek_dst_end) = (CASE kek_dst_family WHEN 4 THEN 4 ELSE 16 END)),
	CHECK (kek_present = 0 OR (kek_src_family IN (4, 6) AND kek_dst_family IN (4, 6)
	                           AND kek_lifetime > 0 AND kek_kwa > 0))
);

-- Data-Security SAs of a group, in policy order (position = index in gk_group_policy.teks).
CREATE TABLE group_teks (
	id            INTEGER PRIMARY KEY,
	group_id      INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	position      INTEGER NOT NULL CHECK (position >= 0),
	name          TEXT NOT NULL DEFAULT '' CHECK (length(CAST(name AS BLOB)) < 64),
	proto         INTEGER NOT NULL CHECK (proto IN (2, 3)), -- AH, ESP
	encr          INTEGER NOT NULL DEFAULT 0 CHECK (encr BETWEEN 0 AND 65535),
	encr_key_bits INTEGER NOT NULL DEFAULT 0 CHECK (encr_key_bits BETWEEN 0 AND 65535),
	integ         INTEGER NOT NULL DEFAULT 0 CHECK (integ BETWEEN 0 AND 65535),
	sn            INTEGER NOT NULL DEFAULT 0 CHECK (sn BETWEEN 0 AND 65535),
	src_family    INTEGER NOT NULL CHECK (src_family IN (4, 6)),
	src_start     BLOB NOT NULL,
	src_end       BLOB NOT NULL,
	src_ip_proto  INTEGER NOT NULL DEFAULT 0 CHECK (src_ip_proto BETWEEN 0 AND 255),
	src_port_lo   INTEGER NOT NULL DEFAULT 0 CHECK (src_port_lo BETWEEN 0 AND 65535),
	src_port_hi   INTEGER NOT NULL DEFAULT 65535 CHECK (src_port_hi BETWEEN 0 AND 65535),
	dst_family    INTEGER NOT NULL CHECK (dst_family IN (4, 6)),
	dst_start     BLOB NOT NULL,
	dst_end       BLOB NOT NULL,
	dst_ip_proto  INTEGER NOT NULL DEFAULT 0 CHECK (dst_ip_proto BETWEEN 0 AND 255),
	dst_port_lo   INTEGER NOT NULL DEFAULT 0 CHECK (dst_port_lo BETWEEN 0 AND 65535),
	dst_port_hi   INTEGER NOT NULL DEFAULT 65535 CHECK (dst_port_hi BETWEEN 0 AND 65535),
	lifetime      INTEGER NOT NULL CHECK (lifetime BETWEEN 1 AND 4294967295),
	UNIQUE (group_id, position),
	CHECK (length(src_start) = (CASE src_family WHEN 4 THEN 4 ELSE 16 END)
	       AND length(src_end) = length(src_start) AND src_start <= src_end),
	CHECK (length(dst_start) = (CASE dst_family WHEN 4 THEN 4 ELSE 16 END)
	       AND length(dst_end) = length(dst_start) AND dst_start <= dst_end),
	CHECK (src_port_lo <= src_port_hi AND dst_port_lo <= dst_port_hi)
);

-- Identities authorized to join a group.
CREATE TABLE members (
	id             INTEGER PRIMARY KEY,
	group_id       INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	position       INTEGER NOT NULL CHECK (position >= 0), -- order in the policy
	id_type        INTEGER NOT NULL CHECK (id_type BETWEEN 1 AND 255),
	id_data        BLOB NOT NULL CHECK (length(id_data) <= 255),
	name           TEXT NOT NULL,                           -- canonical text of the identity
	auth           INTEGER NOT NULL CHECK (auth IN (1, 2, 3)), -- psk, cert, pubkey
	psk            BLOB,                                    -- secret
	pubkey         BLOB,                                    -- DER SubjectPublicKeyInfo
	role           INTEGER NOT NULL CHECK (role IN (1, 2)), -- receiver, sender
	max_sender_ids INTEGER NOT NULL DEFAULT 0 CHECK (max_sender_ids BETWEEN 0 AND 4294967295),
	UNIQUE (group_id, id_type, id_data),
	UNIQUE (group_id, position),
	CHECK (auth <> 1 OR length(psk) > 0),
	CHECK (auth <> 3 OR length(pubkey) > 0)
);

-- Group SA keys. tek_index is the position of the TEK, -1 for the Rekey SA. At most one
-- 'current' key per SA; 'old' keys stay until they expire (members may still use them).
CREATE TABLE sa_keys (
	id         INTEGER PRIMARY KEY,
	group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	tek_index  INTEGER NOT NULL CHECK (tek_index >= -1),
	spi        BLOB NOT NULL CHECK (length(spi) IN (4, 16)),
	keymat     BLOB NOT NULL CHECK (length(keymat) BETWEEN 1 AND 256), -- secret
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	generation INTEGER NOT NULL CHECK (generation >= 1),
	state      TEXT NOT NULL DEFAULT 'current' CHECK (state IN ('current', 'old')),
	CHECK (expires > created),
	CHECK ((tek_index = -1) = (length(spi) = 16))
);
CREATE UNIQUE INDEX sa_keys_current ON sa_keys(group_id, tek_index) WHERE state = 'current';
CREATE INDEX sa_keys_spi ON sa_keys(spi);

-- Counters that must never repeat for the same keys, per group:
--   sender_id     next Sender-ID to hand out (absent: 0, RFC 9838 2.5.1)
--   rekey_msgid   next GSA_REKEY Message ID (absent: 0)
--   registrations number of rows in registrations (kept by the triggers below)
CREATE TABLE counters (
	group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	name     TEXT NOT NULL CHECK (name IN ('sender_id', 'rekey_msgid', 'registrations')),
	value    INTEGER NOT NULL CHECK (value >= 0),
	PRIMARY KEY (group_id, name)
) WITHOUT ROWID;

-- Members currently registered. Not tied to the members table: a registration outlives a
-- policy change until the member is evicted.
CREATE TABLE registrations (
	id              INTEGER PRIMARY KEY,
	group_id        INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	member          TEXT NOT NULL CHECK (length(CAST(member AS BLOB)) BETWEEN 1 AND 599),
	role            INTEGER NOT NULL CHECK (role IN (1, 2)),
	peer            TEXT NOT NULL DEFAULT '' CHECK (length(CAST(peer AS BLOB)) < 64),
	registered_at   INTEGER NOT NULL,
	sender_id_first INTEGER NOT NULL DEFAULT 0 CHECK (sender_id_first BETWEEN 0 AND 4294967295),
	sender_id_count INTEGER NOT NULL DEFAULT 0 CHECK (sender_id_count BETWEEN 0 AND 4294967295),
	UNIQUE (group_id, member)
);

-- The registration count is read on every registration (capacity check); counting rows
-- would cost time proportional to the members held.
CREATE TRIGGER registrations_count_ins AFTER INSERT ON registrations BEGIN
	INSERT INTO counters (group_id, name, value) VALUES (NEW.group_id, 'registrations', 1)
	ON CONFLICT (group_id, name) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER registrations_count_del AFTER DELETE ON registrations BEGIN
	UPDATE counters SET value = value - 1
	WHERE group_id = OLD.group_id AND name = 'registrations' AND value > 0;
END;

-- What admins (and the daemon on their behalf) changed.
CREATE TABLE audit (
	id     INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,
	who    TEXT NOT NULL,
	action TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit(at);
