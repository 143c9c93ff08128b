/* The table of change kinds, and helpers shared by them. A new kind is one
 * new file in src/kinds/ plus one row here; nothing else lists the kinds. */
#include "core/kind.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* The kinds, in the order messages list them. Each row names the file's
 * 'const struct hf_change_kind hf_kind_<row>'. */
#define HF_KINDS(X) \
	X(config)   \
	X(function) \
	X(acl)      \
	X(binary)   \
	X(data)     \
	X(flag)     \
	X(exec)     \
	X(example)

#define DECLARE(name) extern const struct hf_change_kind hf_kind_##name;
HF_KINDS(DECLARE)
#undef DECLARE

#define ROW(name) &hf_kind_##name,
static const struct hf_change_kind *const kinds[] = { HF_KINDS(ROW) };
#undef ROW

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct hf_change_kind *hf_kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (!strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}

void hf_kind_names(struct hf_buf *out)
{
	const struct hf_change_kind *shown[NKINDS];
	size_t i, n = 0;

	for (i = 0; i < NKINDS; i++)
		if (!(kinds[i]->flags & HF_KIND_HIDDEN))
			shown[n++] = kinds[i];
	for (i = 0; i < n; i++)
		hf_buf_printf(out, "%s%s", !i ? "" : i + 1 < n ? ", " : " or ", shown[i]->name);
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

void hf_kind_check_restored(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
			    size_t n, hf_kind_verify_fn verify)
{
	struct hf_target *chk = hf_xcalloc(n ? n : 1, sizeof(*chk));
	size_t *map = hf_xcalloc(n ? n : 1, sizeof(*map));
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (t[i].status || t[i].match)
			continue;
		chk[m] = t[i];
		chk[m].diff = NULL;
		chk[m].ndiff = 0;
		map[m++] = i;
	}
	if (m)
		verify(ch, x, chk, m, HF_SIDE_BEFORE);
	for (i = 0; i < m; i++) {
		struct hf_target *dst = &t[map[i]];

		if (chk[i].status)
			hf_target_set(dst, chk[i].status, "%s", chk[i].error);
		else if (!chk[i].match)
			hf_target_set(dst, HF_ERR, "%s:%d does not hold the before-state after revert",
				      dst->node->host, dst->node->port);
		else
			dst->match = 1;
	}
	free(chk);
	free(map);
}

void hf_kind_send_all(struct hf_cluster *c, struct hf_target *t, size_t n, const char *cmd,
		      const char *sub)
{
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++) {
		hf_call_push(&calls[i], cmd, sub, NULL);
	}
	hf_kind_calls_run(c, t, n, calls);
	hf_kind_calls_free(calls, n);
}

/* Persist again on the targets in 'restored' whose change had been
 * persisted: the file would otherwise bring the hotfix back on a restart.
 * 'restored' marks where a restore was sent (a conflict's parts too) and
 * where the node already held the before-state (a rollback that died
 * between the restore and the persist); a node left entirely as someone
 * else made it is not persisted for them. */
static void persist_restored(const struct hf_change *ch, struct hf_kind_ctx *x,
			     struct hf_target *t, size_t n, const unsigned char *restored)
{
	struct hf_target *sub = hf_xcalloc(n ? n : 1, sizeof(*sub));
	size_t *who = hf_xcalloc(n ? n : 1, sizeof(*who));
	size_t i, m = 0;

	for (i = 0; i < n; i++)
		if (restored[i] && (!t[i].status || t[i].status == HF_ECONFLICT) &&
		    t[i].step->persisted && ch->kind->needs_persist &&
		    ch->kind->needs_persist(ch, t[i].step)) {
			sub[m] = t[i];
			sub[m].diff = NULL;
			sub[m].ndiff = 0;
			who[m++] = i;
		}
	if (m && ch->kind->persist)
		ch->kind->persist(ch, x, sub, m);
	for (i = 0; i < m; i++)
		if (sub[i].status)
			snprintf(t[who[i]].warning, sizeof(t[who[i]].warning), "runtime restored, but "
				 "persisting it failed (the config file may still hold the hotfix): %.150s",
				 sub[i].error);
	free(sub);
	free(who);
}

void hf_kind_revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n, unsigned flags)
{
	int force = !!(flags & HF_REVERT_FORCE);
	const struct hf_change_kind *k = ch->kind;
	struct hf_call *live = hf_kind_calls_new(t, n);
	struct hf_call *sets = hf_xcalloc(n ? n : 1, sizeof(*sets));
	struct hf_target *who = hf_xcalloc(n ? n : 1, sizeof(*who));
	size_t *idx = hf_xcalloc(n ? n : 1, sizeof(*idx));
	unsigned char *restored = hf_xcalloc(n ? n : 1, 1);
	size_t i, m = 0;
	char why[512];

	for (i = 0; i < n; i++)
		k->read(ch, &live[i]);
	hf_kind_calls_run(x->c, t, n, live);
	for (i = 0; i < n; i++) {
		enum hf_held held;

		if (t[i].status)
			continue;
		why[0] = '\0';
		held = k->classify(ch, t[i].step, &live[i], why, sizeof(why));
		if (held == HF_HELD_BEFORE) {
			t[i].match = 1;
			restored[i] = 1;
			continue;
		}
		/* A conflict may still leave parts of the node to restore. */
		if (held == HF_HELD_OTHER && !force)
			hf_target_set(&t[i], HF_ECONFLICT, "%s", why);
		sets[m].node = t[i].node;
		if (k->restore(ch, t[i].step, &live[i], held, flags, &sets[m], why, sizeof(why))) {
			hf_target_set(&t[i], HF_ERR, "%s", why);
		} else if (sets[m].ncmds) {
			who[m] = t[i];
			idx[m++] = i;
			restored[i] = 1;
			continue;
		}
		hf_calls_release(&sets[m], 1);
		memset(&sets[m], 0, sizeof(sets[m]));
	}
	hf_kind_calls_run(x->c, who, m, sets);
	for (i = 0; i < m; i++)
		if (who[i].status)
			hf_target_set(&t[idx[i]], who[i].status, "%s", who[i].error);
	persist_restored(ch, x, t, n, restored);
	hf_kind_calls_free(sets, m);
	hf_kind_calls_free(live, n);
	free(who);
	free(idx);
	free(restored);
	hf_kind_check_restored(ch, x, t, n, k->verify);
}
