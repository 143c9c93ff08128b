/* spec.preflight of the manifest: the dependencies a hotfix needs healthy
 * (S34), checked before the first wave and between waves. Each is a
 * command (healthy: exit 0) or an HTTP URL (healthy: the expected status,
 * and the body holding a text when one is asked for):
 *
 *   preflight:
 *     - command: ./billing-healthy.sh      # in the manifest's directory
 *     - url: http://127.0.0.1:8080/health
 *       status: 200                        # default 200
 *       body: '"status":"up"'              # optional: a text the body holds
 *       timeout: 5s                        # default 10s
 *
 * Reading the YAML and running the checks live here; what a failure does
 * (refuse, pause) is the caller's. */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

#define DEFAULT_TIMEOUT_MS 10000LL
#define BODY_MAX (64 * 1024)

/* ---- reading ------------------------------------------------------- */

static int parse_one(struct hf_yaml *y, struct fy_node *n, struct hf_pos at, const char *dir,
		     struct hf_preflight *out)
{
	enum { F_COMMAND, F_URL, F_STATUS, F_BODY, F_TIMEOUT, F_N };
	struct hf_field f[F_N] = {
		[F_COMMAND] = { .name = "command" }, [F_URL] = { .name = "url" },
		[F_STATUS] = { .name = "status" }, [F_BODY] = { .name = "body" },
		[F_TIMEOUT] = { .name = "timeout" },
	};
	const char *s;
	long v;
	int rc;

	if (!n || !fy_node_is_mapping(n))
		return hf_yaml_fail(y, at, "a 'preflight' entry must be a mapping {command: ...} "
				    "or {url: ..., status: ..., body: ...}");
	if ((rc = hf_yaml_walk(y, n, at, "'preflight'", f, F_N)))
		return rc;
	out->pos = at;
	out->status = 200;
	out->timeout_ms = DEFAULT_TIMEOUT_MS;
	out->dir = hf_xstrdup(dir);
	if (f[F_COMMAND].seen == f[F_URL].seen)
		return hf_yaml_fail(y, at, "a 'preflight' entry has either 'command' or 'url'%s",
				    f[F_URL].seen ? ", not both" : "");
	if ((f[F_STATUS].seen || f[F_BODY].seen) && f[F_COMMAND].seen)
		return hf_yaml_fail(y, hf_yaml_later(&f[F_STATUS], &f[F_BODY])->pos,
				    "'status' and 'body' go with 'url', not 'command'");
	if (f[F_COMMAND].seen)
		return hf_yaml_text(y, &f[F_COMMAND], &out->command) ? HF_EINVAL :
		       f[F_TIMEOUT].seen ? hf_yaml_duration(y, &f[F_TIMEOUT], 1, &out->timeout_ms) : 0;
	if ((rc = hf_yaml_text(y, &f[F_URL], &out->url)))
		return rc;
	if (!hf_notify_url_ok(out->url))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_URL].val, f[F_URL].pos),
				    "invalid url '%s' (expected an http:// or https:// URL)", out->url);
	if (f[F_STATUS].seen) {
		s = hf_yaml_scalar(y, f[F_STATUS].val, f[F_STATUS].pos, "status", "an HTTP status");
		if (!s)
			return HF_EINVAL;
		if (hf_parse_positive(s, &v) || v < 100 || v > 599)
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_STATUS].val, f[F_STATUS].pos),
					    "invalid status '%s' (expected 100 to 599)", s);
		out->status = v;
	}
	if (f[F_BODY].seen && (rc = hf_yaml_text(y, &f[F_BODY], &out->body)))
		return rc;
	return f[F_TIMEOUT].seen ? hf_yaml_duration(y, &f[F_TIMEOUT], 1, &out->timeout_ms) : 0;
}

int hf_preflight_parse(struct hf_yaml *y, struct hf_field *f, struct hf_manifest *m)
{
	struct hf_pos at = hf_yaml_pos(y, f->val, f->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n = 0;
	char *rel = hf_yaml_relative(y, "."), *dir = realpath(rel, NULL);
	int rc = hf_yaml_seq(y, f, "a list of checks ({command: ...} or {url: ...})", 0, &n);

	if (!rc)
		m->preflight = hf_xcalloc(n, sizeof(*m->preflight));
	while (!rc && m->npreflight < n && (item = fy_node_sequence_iterate(f->val, &it)))
		rc = parse_one(y, item, hf_yaml_pos(y, item, at), dir ? dir : rel,
			       &m->preflight[m->npreflight++]);
	free(dir);
	free(rel);
	return rc;
}

void hf_preflight_free(struct hf_manifest *m)
{
	size_t i;

	for (i = 0; i < m->npreflight; i++) {
		free(m->preflight[i].command);
		free(m->preflight[i].url);
		free(m->preflight[i].body);
		free(m->preflight[i].dir);
	}
	free(m->preflight);
	m->preflight = NULL;
	m->npreflight = 0;
}

/* ---- running ------------------------------------------------------- */


static int run_command(const struct hf_preflight *p, size_t k, struct hf_err *err)
{
	char *argv[] = { "/bin/sh", "-c", p->command, NULL };
	struct hf_proc_io io = { .cwd = p->dir, .max = BODY_MAX };
	char line[320];
	int rc = hf_proc_exec(argv, (long)p->timeout_ms, &io);

	hf_proc_first_line(io.errlen ? io.err : io.out, 300, line, sizeof(line));
	if (rc < 0)
		hf_err_set(err, HF_EREFUSED, "preflight %zu (`%s`): %s", k + 1, p->command, io.why);
	else if (rc)
		hf_err_set(err, HF_EREFUSED, "preflight %zu (`%s`): exit %d%s%s", k + 1, p->command,
			   rc, line[0] ? ": " : "", line);
	hf_proc_io_release(&io);
	return rc ? HF_EREFUSED : 0;
}

static size_t keep_body(char *data, size_t size, size_t n, void *ud)
{
	struct hf_buf *b = ud;
	size_t len = size * n;

	if (b->len < BODY_MAX)
		hf_buf_append(b, data, b->len + len > BODY_MAX ? BODY_MAX - b->len : len);
	return len;
}

static int run_url(const struct hf_preflight *p, size_t k, struct hf_err *err)
{
	CURL *e = curl_easy_init();
	struct hf_buf body = {0};
	long status = 0;
	CURLcode cc;
	int rc = 0;

	if (!e)
		return hf_err_set(err, HF_ERR, "preflight %zu: cannot start an HTTP client", k + 1);
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
	cc = curl_easy_perform(e);
	if (cc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		rc = hf_err_set(err, HF_EREFUSED, "preflight %zu (GET %s): %s", k + 1, p->url,
				curl_easy_strerror(cc));
	else if (status != p->status)
		rc = hf_err_set(err, HF_EREFUSED, "preflight %zu (GET %s): status %ld, expected %ld",
				k + 1, p->url, status, p->status);
	else if (p->body && (!body.s || !strstr(body.s, p->body)))
		rc = hf_err_set(err, HF_EREFUSED, "preflight %zu (GET %s): the body does not hold "
				"'%s'", k + 1, p->url, p->body);
	curl_easy_cleanup(e);
	hf_buf_release(&body);
	return rc;
}

int hf_preflight_run(const struct hf_manifest *m, struct hf_err *err)
{
	size_t i;
	int rc = 0;

	if (!m->npreflight)
		return 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; !rc && i < m->npreflight; i++)
		rc = m->preflight[i].command ? run_command(&m->preflight[i], i, err) :
		     run_url(&m->preflight[i], i, err);
	curl_global_cleanup();
	return rc;
}
