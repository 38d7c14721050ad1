#include <openssl/evp.h>
#include "gm_json.h"
#include "auth.h"
#include "iana.h"

static void hash_field(gk_json *j, const char *key, const uint8_t *p, size_t n)
{
	uint8_t md[32];
	unsigned int len = sizeof(md);
	gk_json_key(j, key);
	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) == 1)
		gk_json_hex(j, md, len);
	else
		gk_json_null(j);
}

static void ts_field(gk_json *j, const char *key, const gk_ts_spec *t)
{
	char buf[128];
	gk_json_key(j, key);
	gk_json_obj(j);
	gk_json_kstr(j, "address", gk_ts_spec_text(t, buf, sizeof(buf)));
	gk_json_kint(j, "protocol", t->ip_proto);
	gk_json_kint(j, "port_low", t->port_lo);
	gk_json_kint(j, "port_high", t->port_hi);
	gk_json_obj_end(j);
}

static void name_field(gk_json *j, const char *key, enum gk_registry reg, unsigned v)
{
	gk_json_kstr(j, key, gk_iana_str(reg, v));
}

static void sa_common(gk_json *j, const gk_group_sa *sa)
{
	gk_json_kstr(j, "protocol", gk_iana_str(GK_REG_PROTO, sa->proto));
	gk_json_key(j, "spi");
	gk_json_hex(j, sa->spi, sa->spi_len);
	if (sa->encr) {
		name_field(j, "encryption", GK_REG_ENCR, sa->encr);
		if (sa->encr_key_bits)
			gk_json_kint(j, "key_length", sa->encr_key_bits);
	}
	if (sa->integ)
		name_field(j, "integrity", GK_REG_INTEG, sa->integ);
	ts_field(j, "source", &sa->src);
	ts_field(j, "destination", &sa->dst);
	if (sa->lifetime)
		gk_json_kint(j, "lifetime", sa->lifetime);
	if (sa->n_next_spi) {
		gk_json_key(j, "next_spis"); /* GSA_NEXT_SPI: SPIs reserved for the replacement */
		gk_json_arr(j);
		for (size_t i = 0; i < sa->n_next_spi; i++)
			gk_json_hex(j, sa->next_spi[i], sa->spi_len);
		gk_json_arr_end(j);
	}
	hash_field(j, "keymat_sha256", sa->keymat, sa->keymat_len);
}

static void rekey_sa(gk_json *j, const gk_group_sa *sa)
{
	gk_json_obj(j);
	sa_common(j, sa);
	name_field(j, "key_wrap", GK_REG_KWA, sa->kwa);
	if (sa->gcauth)
		name_field(j, "authentication", GK_REG_GCAUTH, sa->gcauth);
	gk_sig_scheme s;
	if (sa->sig_algid_len && gk_sig_scheme_from_algid(GK_CHUNK(sa->sig_algid, sa->sig_algid_len), &s) == GK_OK)
		gk_json_kstr(j, "signature_algorithm", gk_sig_scheme_name(s));
	gk_json_kint(j, "initial_message_id", sa->initial_msgid);
	gk_json_key(j, "directions");
	gk_json_arr(j);
	gk_json_str(j, "in"); /* RFC 9838 2.3.3: the Rekey SA is inbound only */
	gk_json_arr_end(j);
	gk_json_obj_end(j);
}

void gk_gm_json_group(gk_json *j, const gk_ident *group, const gk_group_state *gs, bool sender,
		      bool transport_mode)
{
	char gt[GK_IDENT_TEXT_MAX];
	gk_json_obj(j);
	gk_json_kstr(j, "group", gk_ident_text(group, gt));
	gk_json_kstr(j, "status", "registered");
	gk_json_kstr(j, "mode", transport_mode ? "transport" : "tunnel");
	gk_json_key(j, "sas");
	gk_json_arr(j);
	for (size_t i = 0; i < gs->nsas; i++) {
		const gk_group_sa *sa = &gs->sas[i];
		if (sa->proto == GK_PROTO_GIKE_UPDATE)
			continue;
		gk_json_obj(j);
		sa_common(j, sa);
		name_field(j, "sequence_numbers", GK_REG_SN, sa->sn);
		/* RFC 9838 2.3.3: receivers install inbound only, senders outbound */
		gk_json_key(j, "directions");
		gk_json_arr(j);
		gk_json_str(j, sender ? "out" : "in");
		gk_json_arr_end(j);
		gk_json_obj_end(j);
	}
	gk_json_arr_end(j);
	gk_json_key(j, "rekey_sa");
	const gk_group_sa *kek = NULL;
	for (size_t i = 0; i < gs->nsas; i++)
		if (gs->sas[i].proto == GK_PROTO_GIKE_UPDATE)
			kek = &gs->sas[i];
	if (kek)
		rekey_sa(j, kek);
	else
		gk_json_null(j);
	gk_json_key(j, "sender_ids");
	gk_json_arr(j);
	for (size_t i = 0; i < gs->nsender_ids; i++)
		gk_json_int(j, gs->sender_ids[i]);
	gk_json_arr_end(j);
	if (gs->has_sender_id_bits)
		gk_json_kint(j, "sender_id_bits", gs->sender_id_bits);
	if (gs->has_atd)
		gk_json_kint(j, "activation_delay", gs->atd);
	if (gs->has_dtd)
		gk_json_kint(j, "deactivation_delay", gs->dtd);
	if (gs->auth_key_len)
		hash_field(j, "auth_key_sha256", gs->auth_key, gs->auth_key_len);
	gk_json_obj_end(j);
}
