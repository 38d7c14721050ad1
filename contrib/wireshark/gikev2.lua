-- gikev2.lua: Wireshark / tshark dissector for the G-IKEv2 additions to IKEv2 (RFC 9838).
--
-- Wireshark's ISAKMP dissector parses the IKEv2 header and payloads (and decrypts SK payloads
-- given the keys in its IKEv2 Decryption Table) but does not know RFC 9838: exchange types 39-42
-- show as "Unknown", and IDg (50), GSA (51) and KD (52) as raw "Data Payload". This plugin is a
-- postdissector: it finds those payloads through the ISAKMP dissector's own fields (also inside
-- decrypted SK payloads) and adds a "G-IKEv2" tree with their contents, renames the exchange in
-- the Info column, and names the notify, protocol and transform values RFC 9838 adds.
--
-- It never shows key material: of a wrapped key (RFC 9838 4.5.2) only the Key ID and KWK ID and
-- the length of the wrapped octets; of AUTH_KEY only its length.
--
-- Use:  tshark -X lua_script:gikev2.lua -d udp.port==848,isakmp -r capture.pcapng
-- or copy it into the personal plugin folder (Help > About > Folders). Tested with tshark 4.0.
-- Every length is checked against the bytes present: a short or inconsistent structure gets an
-- expert note "G-IKEv2: truncated ...", never a Lua error.

local gikev2 = Proto("gikev2", "G-IKEv2 (RFC 9838)")

local EXCH = { [39] = "GSA_AUTH", [40] = "GSA_REGISTRATION", [41] = "GSA_REKEY", [42] = "GSA_INBAND_REKEY" }
local PAYLOAD = { [50] = "IDg", [51] = "GSA", [52] = "KD" }
local PROTO = { [0] = "NONE", [1] = "IKE", [2] = "AH", [3] = "ESP", [6] = "GIKE_UPDATE" }
local NOTIFY = { [45] = "INVALID_GROUP_ID", [46] = "AUTHORIZATION_FAILED", [49] = "REGISTRATION_FAILED",
		 [16429] = "GROUP_SENDER" }
local TF_TYPE = { [1] = "ENCR", [2] = "PRF", [3] = "INTEG", [4] = "KE", [5] = "SN", [13] = "KWA", [14] = "GCAUTH" }
local ENCR = { [3] = "3DES", [11] = "NULL", [12] = "AES_CBC", [13] = "AES_CTR", [14] = "AES_CCM_8",
	       [15] = "AES_CCM_12", [16] = "AES_CCM_16", [18] = "AES_GCM_8", [19] = "AES_GCM_12",
	       [20] = "AES_GCM_16", [21] = "NULL_AUTH_AES_GMAC", [28] = "CHACHA20_POLY1305",
	       [30] = "AES_GCM_16_IIV", [31] = "CHACHA20_POLY1305_IIV" }
local INTEG = { [0] = "NONE", [2] = "HMAC_SHA1_96", [5] = "AES_XCBC_96", [8] = "AES_CMAC_96",
		[9] = "AES_128_GMAC", [10] = "AES_192_GMAC", [11] = "AES_256_GMAC",
		[12] = "HMAC_SHA2_256_128", [13] = "HMAC_SHA2_384_192", [14] = "HMAC_SHA2_512_256" }
local SN = { [0] = "32-bit Sequential Numbers", [1] = "Partially Transmitted 64-bit Sequential Numbers (ESN)",
	     [2] = "32-bit Unspecified Numbers" }
local KWA = { [1] = "KW_5649_128", [2] = "KW_5649_192", [3] = "KW_5649_256", [4] = "KW_ARX" }
local GCAUTH = { [1] = "Implicit", [2] = "Digital Signature" }
local TF_ID = { [1] = ENCR, [3] = INTEG, [5] = SN, [13] = KWA, [14] = GCAUTH }
local TF_ATTR = { [14] = "Key Length", [18] = "Signature Algorithm Identifier" }
local GSA_ATTR = { [1] = "GSA_KEY_LIFETIME", [2] = "GSA_INITIAL_MESSAGE_ID", [3] = "GSA_NEXT_SPI" }
local GWP_ATTR = { [1] = "GWP_ATD", [2] = "GWP_DTD", [3] = "GWP_SENDER_ID_BITS" }
local GROUP_BAG_ATTR = { [1] = "SA_KEY" }
local MEMBER_BAG_ATTR = { [1] = "WRAP_KEY", [2] = "AUTH_KEY", [3] = "GM_SENDER_ID" }
local ID_TYPE = { [1] = "ID_IPV4_ADDR", [2] = "ID_FQDN", [3] = "ID_RFC822_ADDR", [5] = "ID_IPV6_ADDR",
		  [9] = "ID_DER_ASN1_DN", [11] = "ID_KEY_ID" }
local TS_TYPE = { [7] = "TS_IPV4_ADDR_RANGE", [8] = "TS_IPV6_ADDR_RANGE" }

local pf = {
	exchange = ProtoField.uint8("gikev2.exchange", "Exchange type", base.DEC, EXCH),
	payload = ProtoField.uint8("gikev2.payload", "Payload", base.DEC, PAYLOAD),
	idg_type = ProtoField.uint8("gikev2.idg.type", "IDg type", base.DEC, ID_TYPE),
	idg = ProtoField.string("gikev2.idg", "Group ID"),
	policy = ProtoField.none("gikev2.gsa.policy", "Policy"),
	protocol = ProtoField.uint8("gikev2.protocol", "Protocol", base.DEC, PROTO),
	spi = ProtoField.bytes("gikev2.spi", "SPI"),
	ts = ProtoField.string("gikev2.ts", "Traffic selector"),
	ts_type = ProtoField.uint8("gikev2.ts.type", "TS type", base.DEC, TS_TYPE),
	tf_type = ProtoField.uint8("gikev2.transform.type", "Transform type", base.DEC, TF_TYPE),
	tf_id = ProtoField.uint16("gikev2.transform.id", "Transform ID"),
	tf = ProtoField.string("gikev2.transform", "Transform"),
	attr_type = ProtoField.uint16("gikev2.attr.type", "Attribute type"),
	attr = ProtoField.string("gikev2.attr", "Attribute"),
	lifetime = ProtoField.uint32("gikev2.gsa.key_lifetime", "Key lifetime (s)"),
	initial_msgid = ProtoField.uint32("gikev2.gsa.initial_message_id", "Initial Message ID"),
	next_spi = ProtoField.bytes("gikev2.gsa.next_spi", "Next SPI"),
	atd = ProtoField.uint16("gikev2.gwp.atd", "Activation time delay (s)"),
	dtd = ProtoField.uint16("gikev2.gwp.dtd", "Deactivation time delay (s)"),
	sid_bits = ProtoField.uint16("gikev2.gwp.sender_id_bits", "Sender-ID bits"),
	bag = ProtoField.none("gikev2.kd.bag", "Key bag"),
	key_id = ProtoField.uint32("gikev2.kd.key_id", "Key ID"),
	kwk_id = ProtoField.uint32("gikev2.kd.kwk_id", "KWK ID"),
	wrapped_len = ProtoField.uint16("gikev2.kd.wrapped_len", "Wrapped key octets (not shown)"),
	auth_key_len = ProtoField.uint16("gikev2.kd.auth_key_len", "AUTH_KEY octets (not shown)"),
	sender_id = ProtoField.uint32("gikev2.kd.sender_id", "GM_SENDER_ID"),
	notify = ProtoField.uint16("gikev2.notify", "Notify", base.DEC, NOTIFY),
}
gikev2.fields = pf

local ef_trunc = ProtoExpert.new("gikev2.truncated", "G-IKEv2: truncated structure", expert.group.MALFORMED,
				  expert.severity.WARN)
gikev2.experts = { ef_trunc }

local f_exch = Field.new("isakmp.exchangetype")
local f_type = Field.new("isakmp.typepayload")
local f_notify = Field.new("isakmp.notify.msgtype")
local f_protoid = Field.new("isakmp.prop.protoid")
local f_tftype = Field.new("isakmp.tf.type")

local function name(t, v)
	return (t[v] or "Unknown") .. " (" .. v .. ")"
end

local function trunc(tree, tvb, what)
	tree:add_proto_expert_info(ef_trunc, "G-IKEv2: truncated " .. what)
end

local function addr_text(tvb, off, n)
	if n == 4 then
		return tostring(tvb(off, 4):ipv4())
	end
	return tostring(tvb(off, 16):ipv6())
end

-- RFC 7296 3.13.1: one traffic selector; returns its length or nil
local function dissect_ts(tvb, off, limit, tree, label)
	if off + 8 > limit then return nil end
	local ty, proto, len = tvb(off, 1):uint(), tvb(off + 1, 1):uint(), tvb(off + 2, 2):uint()
	local alen = (ty == 7 and 4) or (ty == 8 and 16) or nil
	if not alen or len ~= 8 + 2 * alen or off + len > limit then return nil end
	local text = string.format("%s %s-%s proto %d ports %d-%d", label, addr_text(tvb, off + 8, alen),
				   addr_text(tvb, off + 8 + alen, alen), proto, tvb(off + 4, 2):uint(), tvb(off + 6, 2):uint())
	local t = tree:add(pf.ts, tvb(off, len), text)
	t:add(pf.ts_type, tvb(off, 1))
	return len
end

-- RFC 7296 3.3.5 data attributes from off to limit; cb(type, value_range, tree) names values
local function dissect_attrs(tvb, off, limit, tree, names, cb)
	while off < limit do
		if off + 4 > limit then return trunc(tree, tvb, "attribute") end
		local w = tvb(off, 2):uint()
		local ty, tv = bit32.band(w, 0x7fff), bit32.band(w, 0x8000) ~= 0
		local vlen = tv and 2 or tvb(off + 2, 2):uint()
		local voff = tv and off + 2 or off + 4
		if voff + vlen > limit then return trunc(tree, tvb, "attribute") end
		local t = tree:add(pf.attr, tvb(off, voff + vlen - off), name(names, ty))
		t:add(pf.attr_type, tvb(off, 2), ty)
		if cb and vlen > 0 then cb(ty, tvb(voff, vlen), t) end
		off = voff + vlen
	end
end

local function gsa_attr(ty, v, t)
	if ty == 1 and v:len() == 4 then t:add(pf.lifetime, v)
	elseif ty == 2 and v:len() == 4 then t:add(pf.initial_msgid, v)
	elseif ty == 3 then t:add(pf.next_spi, v) end
end

local function gwp_attr(ty, v, t)
	if v:len() ~= 2 then return end
	if ty == 1 then t:add(pf.atd, v) elseif ty == 2 then t:add(pf.dtd, v) elseif ty == 3 then t:add(pf.sid_bits, v) end
end

-- RFC 9838 4.5.2: Key ID, KWK ID, then the wrapped key, which is never shown
local function wrapped_key(v, t)
	if v:len() < 8 then return trunc(t, v, "wrapped key") end
	t:add(pf.key_id, v(0, 4))
	t:add(pf.kwk_id, v(4, 4))
	t:add(pf.wrapped_len, v(8, v:len() - 8), v:len() - 8)
	t:append_text(string.format(": Key ID %d, KWK ID %d", v(0, 4):uint(), v(4, 4):uint()))
end

local function group_bag_attr(ty, v, t)
	if ty == 1 then wrapped_key(v, t) end
end

local function member_bag_attr(ty, v, t)
	if ty == 1 then wrapped_key(v, t)
	elseif ty == 2 then t:add(pf.auth_key_len, v, v:len())
	elseif ty == 3 and v:len() == 4 then t:add(pf.sender_id, v) end
end

-- RFC 7296 3.3.2 transforms, the last one has Last Substruc 0; returns the end offset or nil
local function dissect_transforms(tvb, off, limit, tree)
	while true do
		if off + 8 > limit then return nil end
		local last, len = tvb(off, 1):uint(), tvb(off + 2, 2):uint()
		if len < 8 or off + len > limit then return nil end
		local ty, id = tvb(off + 4, 1):uint(), tvb(off + 6, 2):uint()
		local t = tree:add(pf.tf, tvb(off, len), TF_TYPE[ty] and (TF_TYPE[ty] .. " " .. name(TF_ID[ty] or {}, id))
				   or name(TF_TYPE, ty))
		t:add(pf.tf_type, tvb(off + 4, 1))
		t:add(pf.tf_id, tvb(off + 6, 2))
		dissect_attrs(tvb, off + 8, off + len, t, TF_ATTR, function(aty, v, at)
			if aty == 14 and v:len() == 2 then at:append_text(": " .. v:uint()) end
		end)
		off = off + len
		if last == 0 then return off end
	end
end

-- RFC 9838 4.4: GSA policies (protocol != 0) and the Group-wide policy (protocol 0)
local function dissect_gsa(tvb, tree)
	local off, limit = 4, tvb:len()
	while off < limit do
		if off + 4 > limit then return trunc(tree, tvb, "GSA policy") end
		local proto, len = tvb(off, 1):uint(), tvb(off + 2, 2):uint()
		if len < 4 or off + len > limit then return trunc(tree, tvb, "GSA policy") end
		local pend = off + len
		local t = tree:add(pf.policy, tvb(off, len))
		t:add(pf.protocol, tvb(off, 1))
		if proto == 0 then
			t:set_text("Group-wide policy")
			dissect_attrs(tvb, off + 4, pend, t, GWP_ATTR, gwp_attr)
		else
			local spisz = tvb(off + 1, 1):uint()
			local p = off + 4
			if p + spisz > pend then return trunc(t, tvb, "GSA policy SPI") end
			if spisz > 0 then t:add(pf.spi, tvb(p, spisz)) end
			t:set_text(string.format("GSA policy %s SPI %s", name(PROTO, proto),
						 spisz > 0 and tostring(tvb(p, spisz):bytes()) or "-"))
			p = p + spisz
			local n = dissect_ts(tvb, p, pend, t, "source")
			if not n then return trunc(t, tvb, "source traffic selector") end
			p = p + n
			n = dissect_ts(tvb, p, pend, t, "destination")
			if not n then return trunc(t, tvb, "destination traffic selector") end
			p = dissect_transforms(tvb, p + n, pend, t)
			if not p then return trunc(t, tvb, "transform") end
			dissect_attrs(tvb, p, pend, t, GSA_ATTR, gsa_attr)
		end
		off = pend
	end
end

-- RFC 9838 4.5: Group Key Bags (protocol != 0) and the Member Key Bag (protocol 0)
local function dissect_kd(tvb, tree)
	local off, limit = 4, tvb:len()
	while off < limit do
		if off + 4 > limit then return trunc(tree, tvb, "key bag") end
		local proto, len = tvb(off, 1):uint(), tvb(off + 2, 2):uint()
		if len < 4 or off + len > limit then return trunc(tree, tvb, "key bag") end
		local pend = off + len
		local t = tree:add(pf.bag, tvb(off, len))
		t:add(pf.protocol, tvb(off, 1))
		if proto == 0 then
			t:set_text("Member key bag")
			dissect_attrs(tvb, off + 4, pend, t, MEMBER_BAG_ATTR, member_bag_attr)
		else
			local spisz = tvb(off + 1, 1):uint()
			if off + 4 + spisz > pend then return trunc(t, tvb, "key bag SPI") end
			if spisz > 0 then t:add(pf.spi, tvb(off + 4, spisz)) end
			t:set_text(string.format("Group key bag %s SPI %s", name(PROTO, proto),
						 spisz > 0 and tostring(tvb(off + 4, spisz):bytes()) or "-"))
			dissect_attrs(tvb, off + 4 + spisz, pend, t, GROUP_BAG_ATTR, group_bag_attr)
		end
		off = pend
	end
end

local function dissect_idg(tvb, tree)
	if tvb:len() < 8 then return trunc(tree, tvb, "IDg") end
	local ty = tvb(4, 1):uint()
	tree:add(pf.idg_type, tvb(4, 1))
	local data = tvb(8, tvb:len() - 8)
	local text = (ty == 2 or ty == 3 or ty == 11) and data:string() or tostring(data:bytes())
	tree:add(pf.idg, data, text)
	tree:append_text(": " .. text)
end

function gikev2.dissector(_, pinfo, root)
	local ex = { f_exch() }
	if #ex == 0 then return end
	local tree
	local function t()
		tree = tree or root:add(gikev2)
		return tree
	end
	local e = ex[1].value
	if EXCH[e] then
		t():add(pf.exchange, ex[1].range)
		-- the ISAKMP dissector wrote "Unknown NN" into the Info column
		pinfo.cols.info:set((tostring(pinfo.cols.info):gsub("Unknown " .. e, EXCH[e])))
	end
	for _, fi in ipairs({ f_type() }) do
		local ty = fi.value
		if PAYLOAD[ty] and fi.len >= 4 then
			local sub = fi.range:tvb()
			local pt = t():add(pf.payload, fi.range, ty)
			if ty == 50 then dissect_idg(sub, pt)
			elseif ty == 51 then dissect_gsa(sub, pt)
			else dissect_kd(sub, pt) end
		end
	end
	for _, fi in ipairs({ f_notify() }) do
		if NOTIFY[fi.value] then t():add(pf.notify, fi.range) end
	end
	for _, fi in ipairs({ f_protoid() }) do
		if fi.value == 6 then t():add(pf.protocol, fi.range, 6) end
	end
	for _, fi in ipairs({ f_tftype() }) do
		local ty = fi.value
		if ty == 5 or ty == 13 or ty == 14 then
			-- Transform ID follows the type and a reserved octet (RFC 7296 3.3.2)
			local ok, id = pcall(function() return fi.source(fi.offset + 2, 2):uint() end)
			if ok then
				t():add(pf.tf, fi.range, TF_TYPE[ty] .. " " .. name(TF_ID[ty], id))
			end
		end
	end
end

register_postdissector(gikev2)
