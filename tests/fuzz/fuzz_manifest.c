/* libFuzzer target: the manifest parser, from YAML bytes to a validated
 * manifest or an error, must neither crash, leak nor write out of bounds,
 * and every error must name FILE:LINE:COL (or say the file cannot be
 * read). Built by 'make fuzz' (clang, -DHF_FUZZ=ON). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_manifest *m = NULL;
	struct hf_err err = {0};
	int rc;

	/* Relative files (function code, key lists) resolve next to a path
	 * that does not exist; an absolute one is read, at most 4 MiB of a
	 * regular file, which is what the parser does for any manifest. */
	rc = hf_manifest_parse("/nonexistent/fuzz.yaml", (const char *)data, size, &m, &err);
	if (rc) {
		if (m || rc != HF_EINVAL || strncmp(err.msg, "/nonexistent/fuzz.yaml:", 23))
			abort();
		return 0;
	}
	if (!m || !m->nchanges || !m->nwaves)
		abort();
	hf_manifest_free(m);
	return 0;
}
