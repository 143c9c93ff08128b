/* A test helper, not installed: publish a flag file as the next version
 * through the flag store's compare-and-set, as 'hotfix flag set' will.
 *
 *   publish URI FILE [EXPECT]
 *
 * EXPECT is the version the caller believes current (default: the version
 * read just before). Prints "version N published_ms MS"; exits 0, 5 when
 * the store refused a stale version, 2 for a bad file, 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/redis/flagstore.h"
#include "flags/flags.h"

int main(int argc, char **argv)
{
	struct hf_err err = {0};
	struct hf_uri uri = {0};
	struct hf_flagstore *s = NULL;
	struct hf_flagdoc *doc = NULL;
	char *json = NULL;
	long long expect = -1, v = 0, ms = 0;
	int rc;

	if (argc < 3 || argc > 4) {
		fputs("usage: publish URI FILE [EXPECT]\n", stderr);
		return 2;
	}
	if (argc == 4)
		expect = atoll(argv[3]);
	if ((rc = hf_flagdoc_load(argv[2], HF_FLAGDOC_LENIENT, &doc, &err)) ||
	    (rc = hf_uri_parse(argv[1], &uri, &err)) ||
	    (rc = hf_flagstore_open(&uri, 2000, &s, &err)))
		goto out;
	if (expect < 0 && (rc = hf_flagstore_version(s, &expect, &err)))
		goto out;
	json = hf_flagdoc_json(doc);
	if (!(rc = hf_flagstore_publish(s, expect, json, "", &v, &ms, &err)))
		printf("version %lld published_ms %lld\n", v, ms);
out:
	if (rc)
		fprintf(stderr, "publish: %s\n", err.msg);
	free(json);
	hf_flagstore_close(s);
	hf_uri_release(&uri);
	hf_flagdoc_unref(doc);
	return rc == 0 ? 0 : rc == HF_EREFUSED ? 5 : rc == HF_EINVAL ? 2 : 1;
}
