/* Fuzzes gcksd's whole input path: any sequence of datagrams from up to eight peers, with the
 * clock advancing between them, into a GCKS core with two groups (gcks_harness.h). Seeds from
 * gen_gcks complete IKE_SA_INIT and carry GSA_AUTH, GSA_REGISTRATION and INFORMATIONAL requests
 * that decrypt and authenticate, so mutations reach the handlers behind the integrity checks.
 * After each input the memory bounds hold, and once every timer ran out nothing is parked. */
#include "fuzz.h"
#include "gcks_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1u << 17)
		return 0;
	gk_gcks *g = fh_begin(NULL, NULL);
	gk_gcks_config cfg;
	gk_gcks_config_default(&cfg);
	fh_feed(data, size);
	gk_gcks_stats st;
	gk_gcks_stats_get(g, &st);
	FUZZ_ASSERT(st.frag_bytes <= cfg.frag_total_max);
	FUZZ_ASSERT(st.half_open <= cfg.half_open_max);
	/* past the half-open timeout and every fragment timeout: no fragment octets stay charged */
	fh_advance((int64_t)cfg.half_open_timeout_ms + cfg.frag_timeout_ms + 2000);
	gk_gcks_stats_get(g, &st);
	FUZZ_ASSERT(st.half_open == 0);
	FUZZ_ASSERT(st.frag_bytes == 0);
	fh_end();
	return 0;
}
