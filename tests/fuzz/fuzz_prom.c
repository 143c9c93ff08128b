/* libFuzzer target: an answer of Prometheus' /api/v1/query, from bytes
 * to values or a reason, must neither crash, leak nor write out of
 * bounds; an answer read holds no NaN, and a refusal holds no value and
 * says why. Built by 'make fuzz' (clang, -DHF_FUZZ=ON). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_prom_result r;
	size_t i;

	hf_prom_parse((const char *)data, size, &r);
	if (r.ok) {
		for (i = 0; i < r.n; i++)
			if (isnan(r.v[i]))
				abort();
	} else if (r.v || r.n || !r.why[0]) {
		abort();
	}
	hf_prom_result_release(&r);
	return 0;
}
