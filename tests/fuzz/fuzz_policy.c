/* libFuzzer target: the policy parser, from YAML bytes to a validated
 * policy or an error, must neither crash, leak nor write out of bounds;
 * every error names FILE:LINE:COL; a valid policy's decisions (cluster
 * match, windows, next opening) are taken too. Identities name 'k.pub',
 * a public key written next to the policy at start. Built by 'make fuzz'
 * (clang, -DHF_FUZZ=ON). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/policy.h"

static char path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/hf-fuzz-policy-XXXXXX";
	char keyfile[256], *pem;
	struct hf_key *k = NULL;
	struct hf_err err = {0};
	FILE *f;

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	snprintf(keyfile, sizeof(keyfile), "%s/k.key", dir);
	if (hf_key_generate(keyfile, &k, &err))
		abort();
	pem = hf_key_public_pem(k);
	snprintf(keyfile, sizeof(keyfile), "%s/k.pub", dir);
	f = fopen(keyfile, "w");
	if (!f || fputs(pem, f) < 0 || fclose(f))
		abort();
	free(pem);
	hf_key_free(k);
	snprintf(path, sizeof(path), "%s/fuzz.yaml", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_policy *pol = NULL;
	struct hf_err err = {0};
	size_t i;
	int rc;

	rc = hf_policy_parse(path, (const char *)data, size, &pol, &err);
	if (rc) {
		if (pol || rc != HF_EINVAL || strncmp(err.msg, path, strlen(path)) ||
		    err.msg[strlen(path)] != ':')
			abort();
		return 0;
	}
	if (!pol || !pol->nids)
		abort();
	for (i = 0; i < pol->nclusters; i++) {
		const struct hf_policy_cluster *pc = &pol->clusters[i];
		long long t = 1800000000, next = hf_policy_next_open(pc, t, NULL);

		/* The next opening is open, and never before now. */
		if (next >= 0 && (next < t || !hf_policy_window_open(pc, next, NULL)))
			abort();
	}
	(void)hf_policy_cluster_for(pol, "redis://user:pw@127.0.0.1:6379");
	hf_policy_free(pol);
	return 0;
}
