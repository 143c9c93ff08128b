/* libFuzzer target: what 'hotfix serve' reads of a request without its
 * connection: the path (a run's, OFREP's), the query's counts, the Host
 * and Origin headers, the bearer token, and OFREP's JSON bodies with
 * If-None-Match, evaluated over a fixed flag document. The input is lines:
 * the URL (with its query), Host, Origin, Authorization, If-None-Match,
 * then the body; a missing line is a header not sent. Every answer must
 * have a JSON body with a status libmicrohttpd can send. Built by
 * 'make fuzz'. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/serve.h"

#define OFREP_FLAGS "/ofrep/v1/evaluate/flags"

static const char doc[] =
	"{\"flags\": {"
	"\"on\": {\"state\": \"ENABLED\", \"variants\": {\"on\": true, \"off\": false},"
	" \"defaultVariant\": \"on\"},"
	"\"color\": {\"state\": \"ENABLED\", \"variants\": {\"red\": \"red\", \"blue\": \"blue\"},"
	" \"defaultVariant\": \"red\", \"targeting\": {\"if\": [{\"ends_with\": [{\"var\": \"email\"},"
	" \"@example.com\"]}, \"blue\", null]}},"
	"\"frac\": {\"state\": \"ENABLED\", \"variants\": {\"a\": 1, \"b\": 2}, \"defaultVariant\": \"a\","
	" \"targeting\": {\"fractional\": [[\"a\", 50], [\"b\", 50]]}},"
	"\"off\": {\"state\": \"DISABLED\", \"variants\": {\"x\": \"x\"}, \"defaultVariant\": \"x\"}},"
	" \"metadata\": {\"team\": \"ops\"}}";

static struct hf_ofrep_snap *snap;
static struct hf_tokens *tokens;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/hotfix-fuzz-tokens-XXXXXX";
	struct hf_err err = {0};
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	if (fd < 0 || fchmod(fd, 0600) ||
	    write(fd, "operator s3cret\nviewer look\n", 28) != 28 || close(fd) ||
	    hf_tokens_load(path, &tokens, &err))
		abort();
	unlink(path);
	snap = hf_ofrep_snap_new(doc, 7, &err);
	if (!snap)
		abort();
	return 0;
}

/* The next line of [*p, end) as a string of its own (caller frees), or
 * NULL when there is none. */
static char *next_line(const char **p, const char *end)
{
	const char *nl;
	char *s;

	if (*p >= end)
		return NULL;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl)
		nl = end;
	s = strndup(*p, (size_t)(nl - *p));
	*p = nl < end ? nl + 1 : end;
	return s;
}

static void check_answer(int status, json_t *body, int may_be_empty)
{
	char *s;

	if (status < 200 || status > 599 || (!body && !may_be_empty))
		abort();
	if (body) {
		s = json_dumps(body, JSON_COMPACT);
		if (!s)
			abort();
		free(s);
		json_decref(body);
	}
}

/* Each "name=value" of the query, read as the server reads its counts. */
static void query(const char *q)
{
	char *copy = strdup(q), *save = NULL, *kv, *eq;

	for (kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		long long n;

		eq = strchr(kv, '=');
		n = hf_serve_count(eq ? eq + 1 : NULL, 200, 1, 10000);
		if (n != -1 && (n < 1 || n > 10000))
			abort();
	}
	free(copy);
}

static void ofrep(const char *url, const char *inm, const char *body, size_t len)
{
	const char *key = url + strlen(OFREP_FLAGS);
	char etag[64] = "";
	json_t *out = NULL;
	int status;

	if (strncmp(url, OFREP_FLAGS, strlen(OFREP_FLAGS)))
		key = "/color";
	if (*key == '/' && key[1]) {
		check_answer(hf_ofrep_eval(snap, 0, "", key + 1, body, len, &out), out, 0);
		out = NULL;
		check_answer(hf_ofrep_eval(NULL, 1, "no document", key + 1, body, len, &out), out, 0);
		out = NULL;
	}
	status = hf_ofrep_bulk(snap, 0, "", body, len, inm, etag, &out);
	check_answer(status, out, status == 304);
	if (status == 200 && !*etag)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *url = next_line(&p, end), *host = next_line(&p, end);
	char *origin = next_line(&p, end), *auth = next_line(&p, end);
	char *inm = next_line(&p, end), *body, run[256];
	size_t len = (size_t)(end - p);
	const char *sub = NULL, *q;

	/* A copy of exactly its size, so ASan sees any read past the end. */
	body = malloc(len ? len : 1);
	memcpy(body, p, len);
	if (url) {
		if (hf_serve_run_path(url, run, sizeof(run), &sub) &&
		    (!*run || strlen(run) >= sizeof(run) || strchr(run, '/')))
			abort();
		q = strchr(url, '?');
		if (q)
			query(q + 1);
		ofrep(url, inm, body, len);
	}
	hf_serve_host_ok(host, origin, 8080);
	if (hf_tokens_check(tokens, auth) > HF_SERVE_OPERATOR ||
	    hf_tokens_role(tokens, auth) > HF_SERVE_OPERATOR)
		abort();
	free(url);
	free(host);
	free(origin);
	free(auth);
	free(inm);
	free(body);
	return 0;
}
