/* libFuzzer target: the workload profile reader (hf_profile_parse), given
 * whatever D/profile.json holds after anyone edited it. It either fills
 * the load options with values hf_load_opts_check() accepts (the defaults
 * being valid) and a mix whose effective shares add up to 1, or fails
 * with HF_EINVAL naming the file and an empty mix; neither crashes nor
 * leaks. Built by 'make fuzz'. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/load.h"
#include "engine/redis/profile.h"

static void check_mix(const struct hf_load_mix *m, int check_writes)
{
	double share[HF_LOAD_NOPS], sum = 0;
	int i;

	if (!hf_load_mix_effective(m, check_writes, share))
		return;
	for (i = 0; i < HF_LOAD_NOPS; i++) {
		if (!(share[i] >= 0) || share[i] > 1)
			abort();
		sum += share[i];
	}
	if (fabs(sum - 1) > 1e-6 || (check_writes && share[HF_OP_SET] < HF_LOAD_CHECK_SHARE - 1e-9))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_load_opts o;
	struct hf_load_mix m;
	struct hf_err err = {0};
	int rc;

	hf_load_opts_init(&o);
	rc = hf_profile_parse((const char *)data, size, "fuzz.json", &o, &m, &err);
	if (rc) {
		if (rc != HF_EINVAL || strncmp(err.msg, "fuzz.json: ", 11) || m.nfolded || m.folded)
			abort();
		return 0;
	}
	if (hf_load_opts_check(&o, &err))
		abort();
	check_mix(&m, 0);
	check_mix(&m, 1);
	hf_load_mix_release(&m);
	return 0;
}
