/* The table of change kinds and helpers shared by them. A new kind is one
 * new file plus one row here. */
#include "core/kind.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/buf.h"

const struct hf_change_kind *hf_kind_of(const struct hf_change *ch)
{
	switch (ch->kind) {
	case HF_KIND_CONFIG:
		return &hf_kind_config;
	case HF_KIND_FUNCTION:
		return &hf_kind_function;
	case HF_KIND_ACL:
		return &hf_kind_acl;
	}
	return NULL;
}

void hf_target_set(struct hf_target *t, int status, const char *fmt, ...)
{
	va_list ap;

	t->status = status;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
}

void hf_target_add_diff(struct hf_target *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = hf_xstrdup("?");
	va_end(ap);
	t->diff = hf_xrealloc(t->diff, sizeof(*t->diff) * (t->ndiff + 1));
	t->diff[t->ndiff++] = s;
}

void hf_targets_release(struct hf_target *t, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < t[i].ndiff; k++)
			free(t[i].diff[k]);
		free(t[i].diff);
		t[i].diff = NULL;
		t[i].ndiff = 0;
	}
}

struct hf_call *hf_kind_calls_new(struct hf_target *t, size_t n)
{
	struct hf_call *calls = hf_xcalloc(n ? n : 1, sizeof(*calls));
	size_t i;

	for (i = 0; i < n; i++) {
		calls[i].node = t[i].node;
		t[i].status = 0;
		t[i].error[0] = '\0';
		t[i].warning[0] = '\0';
		t[i].match = 0;
	}
	return calls;
}

void hf_kind_calls_run(struct hf_cluster *c, struct hf_target *t, size_t n, struct hf_call *calls)
{
	size_t i;

	hf_fanout(c, calls, n, c->timeout_ms);
	for (i = 0; i < n; i++) {
		size_t k;

		if (calls[i].status) {
			hf_target_set(&t[i], calls[i].status, "%s", calls[i].error);
			continue;
		}
		for (k = 0; k < calls[i].ncmds; k++)
			if (calls[i].replies[k] && calls[i].replies[k]->type == HF_REPLY_ERROR) {
				hf_target_set(&t[i], HF_ERR, "%s:%d: %s", t[i].node->host,
					      t[i].node->port, calls[i].replies[k]->str);
				break;
			}
	}
}

void hf_kind_calls_free(struct hf_call *calls, size_t n)
{
	hf_calls_release(calls, n);
	free(calls);
}
