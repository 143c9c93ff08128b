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
