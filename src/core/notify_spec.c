/* spec.notify of the manifest: where to send notifications about a run
 * and how often a status comes while it lasts. Only the reading of the
 * YAML lives here; sending is src/notify/. */
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"
#include "util/buf.h"

/* The shortest 'every': a status more often than that is noise. */
#define NOTIFY_EVERY_MIN_MS	1000

int hf_notify_url_ok(const char *url)
{
	const char *rest;

	if (!strncmp(url, "http://", 7))
		rest = url + 7;
	else if (!strncmp(url, "https://", 8))
		rest = url + 8;
	else
		return 0;
	return *rest && *rest != '/' && !strpbrk(url, " \t\r\n");
}

/* One webhook: a mapping {webhook: URL, every: DURATION}. 'at' is where
 * the item starts. */
static int parse_one(struct hf_yaml *y, struct fy_node *n, struct hf_pos at,
		     struct hf_notify_spec *out)
{
	enum { F_WEBHOOK, F_EVERY, F_N };
	struct hf_field f[F_N] = {
		[F_WEBHOOK] = { .name = "webhook", .required = 1 },
		[F_EVERY] = { .name = "every" },
	};
	const char *s;
	int rc;

	if (!n || !fy_node_is_mapping(n))
		return hf_yaml_fail(y, at, "a 'notify' entry must be a mapping "
				    "{webhook: URL, every: DURATION}");
	rc = hf_yaml_walk(y, n, at, "'notify'", f, F_N);
	if (rc)
		return rc;
	s = hf_yaml_scalar(y, f[F_WEBHOOK].val, f[F_WEBHOOK].pos, "webhook", "an http(s) URL");
	if (!s)
		return HF_EINVAL;
	if (!hf_notify_url_ok(s))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_WEBHOOK].val, f[F_WEBHOOK].pos),
				    "invalid webhook '%s' (expected an http:// or https:// URL)", s);
	if (f[F_EVERY].seen) {
		rc = hf_yaml_duration(y, &f[F_EVERY], 1, &out->every_ms);
		if (rc)
			return rc;
		if (out->every_ms < NOTIFY_EVERY_MIN_MS)
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_EVERY].val, f[F_EVERY].pos),
					    "'every' must be at least 1s");
	}
	out->webhook = hf_xstrdup(s);
	out->pos = at;
	return 0;
}

/* spec.notify: one mapping, or a list of them. */
int hf_notify_spec_parse(struct hf_yaml *y, struct hf_field *f, struct hf_manifest *m)
{
	struct hf_pos at = hf_yaml_pos(y, f->val, f->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n = 0, i = 0;
	int rc = 0;

	if (f->val && fy_node_is_mapping(f->val)) {
		m->notify = hf_xcalloc(1, sizeof(*m->notify));
		rc = parse_one(y, f->val, at, &m->notify[0]);
		if (!rc)
			m->nnotify = 1;
		return rc;
	}
	rc = hf_yaml_seq(y, f, "a mapping {webhook: URL, every: DURATION} or a list of them", 0, &n);
	if (rc)
		return rc;
	m->notify = hf_xcalloc(n, sizeof(*m->notify));
	while (!rc && (item = fy_node_sequence_iterate(f->val, &it)) && i < n) {
		rc = parse_one(y, item, hf_yaml_pos(y, item, at), &m->notify[i]);
		if (!rc)
			m->nnotify = ++i;
	}
	return rc;
}

void hf_notify_spec_free(struct hf_manifest *m)
{
	size_t i;

	for (i = 0; i < m->nnotify; i++)
		free(m->notify[i].webhook);
	free(m->notify);
	m->notify = NULL;
	m->nnotify = 0;
}

char *hf_notify_hide(const struct hf_manifest *m, const char *text)
{
	struct hf_buf b = {0};
	char *out = hf_xstrdup(text ? text : "");
	size_t i;

	for (i = 0; m && i < m->nnotify; i++) {
		const char *url = m->notify[i].webhook, *host, *path, *p, *hit;

		if (!url || !hf_notify_url_ok(url))
			continue;
		host = strstr(url, "://") + 3;
		path = strchr(host, '/');
		if (!path || !path[1])
			continue;   /* no path: nothing secret to hide */
		p = out;
		while ((hit = strstr(p, url))) {
			hf_buf_append(&b, p, (size_t)(hit - p));
			hf_buf_append(&b, url, (size_t)(path - url));
			hf_buf_puts(&b, "/(hidden)");
			p = hit + strlen(url);
		}
		hf_buf_puts(&b, p);
		free(out);
		out = hf_buf_detach(&b);
	}
	return out;
}
