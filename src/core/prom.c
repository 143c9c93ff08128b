/* Instant queries against Prometheus' HTTP API, all of an interval's at
 * once through one libcurl multi handle (its connections kept between
 * intervals); the answers read with jansson. */
#include "core/prom.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define BODY_MAX (8 * 1024 * 1024)   /* an answer larger than this is refused */
#define PARALLEL 8L                  /* connections to Prometheus at most */

struct hf_prom {
	CURLM *multi;
	char *url;           /* base + "/api/v1/query" */
	long timeout_ms;
};

struct hf_prom *hf_prom_new(const char *base, long timeout_ms)
{
	struct hf_prom *p = hf_xcalloc(1, sizeof(*p));
	size_t n = strlen(base);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	while (n && base[n - 1] == '/')
		n--;
	p->url = hf_xasprintf("%.*s/api/v1/query", (int)n, base);
	p->timeout_ms = timeout_ms;
	p->multi = curl_multi_init();
	if (p->multi)
		curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, PARALLEL);
	return p;
}

void hf_prom_free(struct hf_prom *p)
{
	if (!p)
		return;
	if (p->multi)
		curl_multi_cleanup(p->multi);
	free(p->url);
	free(p);
	curl_global_cleanup();
}

void hf_prom_result_release(struct hf_prom_result *r)
{
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* A sample's value: [timestamp, "text"], the text a float as Go prints
 * it ("NaN", "+Inf"). 0 with '*out' set, -1 when it is no such pair. */
static int sample_value(json_t *pair, double *out)
{
	const char *s = json_string_value(json_array_get(pair, 1));
	char *end;

	if (!json_is_array(pair) || json_array_size(pair) != 2 || !s || !*s)
		return -1;
	*out = strtod(s, &end);
	return *end ? -1 : 0;
}

static void fail(struct hf_prom_result *r, const char *fmt, const char *detail)
{
	r->ok = 0;
	snprintf(r->why, sizeof(r->why), fmt, detail);
	hf_prom_result_release(r);
}

void hf_prom_parse(const char *body, size_t len, struct hf_prom_result *r)
{
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *data = json_object_get(doc, "data"), *res = json_object_get(data, "result");
	const char *status = json_string_value(json_object_get(doc, "status"));
	const char *type = json_string_value(json_object_get(data, "resultType"));
	json_t *e;
	size_t i;
	double v;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(doc))
		fail(r, "%s", "the answer is not Prometheus' JSON");
	else if (!status || strcmp(status, "success"))
		fail(r, "Prometheus: %s", json_string_value(json_object_get(doc, "error")) ?
		     json_string_value(json_object_get(doc, "error")) : "no status 'success'");
	else if (!type)
		fail(r, "%s", "the answer has no data.resultType");
	else if (!strcmp(type, "scalar")) {
		if (sample_value(res, &v))
			fail(r, "%s", "a scalar that is no [time, \"value\"]");
		else {
			r->ok = 1;
			r->v = hf_xcalloc(1, sizeof(*r->v));
			if (!isnan(v))
				r->v[r->n++] = v;
		}
	} else if (!strcmp(type, "vector") && json_is_array(res)) {
		r->ok = 1;
		r->v = hf_xcalloc(json_array_size(res) + 1, sizeof(*r->v));
		json_array_foreach(res, i, e) {
			if (sample_value(json_object_get(e, "value"), &v)) {
				fail(r, "%s", "a vector sample that is no {metric, value: [time, "
				     "\"value\"]}");
				break;
			}
			if (!isnan(v))
				r->v[r->n++] = v;
		}
	} else {
		fail(r, "the result is a %s, not a number per node (an instant vector or a "
		     "scalar: wrap a range in rate(), max_over_time(), ...)", type);
	}
	json_decref(doc);
}

/* ---- transfers ----------------------------------------------------- */

struct xfer {
	CURL *e;
	struct hf_buf body;
	int too_big;
	char *form;
};

static size_t keep(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	if (x->body.len + len > BODY_MAX) {
		x->too_big = 1;
		return 0;   /* ends the transfer */
	}
	hf_buf_append(&x->body, data, len);
	return len;
}

static int start(struct hf_prom *p, struct xfer *x, const char *expr)
{
	char *q;

	x->e = curl_easy_init();
	if (!x->e)
		return -1;
	q = curl_easy_escape(x->e, expr, 0);
	x->form = hf_xasprintf("query=%s", q ? q : "");
	curl_free(q);
	curl_easy_setopt(x->e, CURLOPT_URL, p->url);
	curl_easy_setopt(x->e, CURLOPT_POSTFIELDS, x->form);
	curl_easy_setopt(x->e, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(x->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->e, CURLOPT_PRIVATE, x);
	return curl_multi_add_handle(p->multi, x->e) == CURLM_OK ? 0 : -1;
}

static void finish(struct hf_prom *p, struct xfer *x, CURLcode cc, struct hf_prom_result *r)
{
	long status = 0;

	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
	if (x->too_big)
		fail(r, "the answer is larger than %s", "8 MiB");
	else if (cc != CURLE_OK)
		fail(r, "%s", curl_easy_strerror(cc));
	else if (status / 100 != 2 && !x->body.len)
		snprintf(r->why, sizeof(r->why), "HTTP status %ld from %s", status, p->url);
	else
		hf_prom_parse(x->body.s ? x->body.s : "", x->body.len, r);
}

void hf_prom_query(struct hf_prom *p, char *const *exprs, size_t n, struct hf_prom_result *out)
{
	struct xfer *x = hf_xcalloc(n ? n : 1, sizeof(*x));
	int running = 0, left;
	size_t i;
	CURLMsg *msg;

	memset(out, 0, sizeof(*out) * n);
	for (i = 0; i < n; i++)
		snprintf(out[i].why, sizeof(out[i].why), "no answer from %s", p->url);
	for (i = 0; i < n; i++)
		if (!p->multi || start(p, &x[i], exprs[i]))
			fail(&out[i], "%s", "cannot start an HTTP request");
	do {
		if (curl_multi_perform(p->multi, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(p->multi, &left))) {
			struct xfer *done = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&done);
			finish(p, done, msg->data.result, &out[done - x]);
		}
		if (running)
			curl_multi_poll(p->multi, NULL, 0, 100, NULL);
	} while (running);
	for (i = 0; i < n; i++) {
		if (x[i].e) {
			curl_multi_remove_handle(p->multi, x[i].e);
			curl_easy_cleanup(x[i].e);
		}
		hf_buf_release(&x[i].body);
		free(x[i].form);
	}
	free(x);
}
