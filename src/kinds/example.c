/* The 'example' kind: the smallest kind there is, the one that
 * docs/ADDING-A-KIND.md walks through. A change "example: {note: TEXT}"
 * touches no node: its plan finds nothing to change anywhere, so a run
 * never reaches its other operations, which still keep the rules (capture
 * reads, verify answers for both sides, revert is idempotent). Its unit
 * test is its only user; it is hidden from the kinds messages name, and a
 * manifest that names it changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "util/buf.h"

struct example_spec {
	char *note;
};

/* The body: a mapping with one field, 'note', a non-empty text of at most
 * 200 bytes. */
static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	struct hf_field f[] = { { .name = "note", .required = 1 } };
	struct example_spec *es = hf_xcalloc(1, sizeof(*es));
	int rc;

	(void)m;
	ch->spec = es;
	rc = hf_yaml_walk(y, body->val, body->pos, "'example'", f, 1);
	if (!rc)
		rc = hf_yaml_text(y, &f[0], &es->note);
	if (!rc && strlen(es->note) > 200)
		rc = hf_yaml_fail(y, hf_yaml_pos(y, f[0].val, f[0].pos),
				  "'note' is longer than 200 bytes");
	return rc;
}

static void spec_free(void *spec)
{
	struct example_spec *es = spec;

	free(es->note);
	free(es);
}

static void summary(const struct hf_change *ch, struct hf_buf *out)
{
	const struct example_spec *es = ch->spec;

	hf_buf_printf(out, "note '%s'", es->note);
}

/* No node differs: the targets' diffs stay empty. */
static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n,
		struct hf_err *err)
{
	(void)ch, (void)x, (void)t, (void)n, (void)err;
	return 0;
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n)
{
	size_t i;

	(void)ch, (void)x;
	for (i = 0; i < n; i++) {
		free(t[i].step->before);
		t[i].step->before = hf_xstrdup("{}");
	}
}

static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	(void)ch, (void)x, (void)t, (void)n;
}

/* Both sides hold everywhere: the change changes nothing. */
static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	size_t i;

	(void)ch, (void)x, (void)side;
	for (i = 0; i < n; i++)
		t[i].match = 1;
}

static void revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, unsigned flags)
{
	(void)flags;
	verify(ch, x, t, n, HF_SIDE_BEFORE);
}

const struct hf_change_kind hf_kind_example = {
	.name = "example",
	.flags = HF_KIND_HIDDEN,
	.parse = parse,
	.free = spec_free,
	.summary = summary,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = revert,
};
