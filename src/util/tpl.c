/* Per-node templates: finding placeholders, and filling them in. */
#include "util/tpl.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

enum { W_ID, W_HOST, W_PORT, W_ROLE, W_GROUP, W_NODE, W_SIDE, W_KEY, W_N };
static const char *const words[W_N] = { "id", "host", "port", "role", "group", "node", "side",
					 "key" };

/* The length of a placeholder's name at 's' (just after '{'): a word of
 * lower-case letters and '_', or "labels." and a label's name, closed by
 * '}'. 0 when what follows '{' is not such a word. */
static size_t word_at(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz_");

	if (n == 6 && !strncmp(s, "labels", 6) && s[6] == '.') {
		n = 7 + strspn(s + 7, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789._:@/-");
		return n > 7 && s[n] == '}' ? n : 0;
	}
	return n && s[n] == '}' ? n : 0;
}

/* The placeholder at 'brace' (a '{' of 'tpl'): its name's length, 0 when
 * it is none (after '$', or not a word). */
static size_t placeholder(const char *tpl, const char *brace)
{
	return brace > tpl && brace[-1] == '$' ? 0 : word_at(brace + 1);
}

/* Which of words[] the name 'w' ('n' bytes) is; W_N for a label, -1 for
 * none. */
static int which(const char *w, size_t n)
{
	int i;

	if (n > 7 && !strncmp(w, "labels.", 7))
		return W_N;
	for (i = 0; i < W_N; i++)
		if (strlen(words[i]) == n && !strncmp(w, words[i], n))
			return i;
	return -1;
}

int hf_tpl_bad_word(const char *tpl, unsigned allow, size_t *at, size_t *len)
{
	const char *p;

	for (p = tpl; (p = strchr(p, '{')); p++) {
		size_t n = placeholder(tpl, p);
		int w = n ? which(p + 1, n) : 0;

		if (n && (w < 0 || (w == W_SIDE && !(allow & HF_TPL_SIDE)) ||
			  (w == W_KEY && !(allow & HF_TPL_KEY)))) {
			*at = (size_t)(p + 1 - tpl);
			*len = n;
			return 1;
		}
	}
	return 0;
}

static void quote(struct hf_buf *b, const char *v, enum hf_tpl_quote q)
{
	if (q == HF_TPL_SHELL)
		hf_buf_puts(b, "'");
	for (; *v; v++) {
		if (q == HF_TPL_SHELL && *v == '\'')
			hf_buf_puts(b, "'\\''");
		else if (q == HF_TPL_PROMQL && (*v == '\\' || *v == '"'))
			hf_buf_printf(b, "\\%c", *v);
		else
			hf_buf_append(b, v, 1);
	}
	if (q == HF_TPL_SHELL)
		hf_buf_puts(b, "'");
}

/* The value of placeholder 'w' ('n' bytes) for 'v', quoted into 'b'. */
static void value(struct hf_buf *b, const char *w, size_t n, const struct hf_tpl_vars *v,
		  enum hf_tpl_quote q)
{
	const char *val[W_N] = { v->id, v->host, v->port, v->role, v->group, v->node, v->side,
				 v->key };
	int k = which(w, n);

	if (k == W_N) {
		char *key = hf_xstrndup(w + 7, n - 7);
		const char *label = v->label ? v->label(v->ctx, key) : NULL;

		quote(b, label ? label : "", q);
		free(key);
	} else if (k >= 0) {
		quote(b, val[k] ? val[k] : "", q);
	} else {
		hf_buf_printf(b, "{%.*s}", (int)n, w);
	}
}

char *hf_tpl_render(const char *tpl, const struct hf_tpl_vars *v, enum hf_tpl_quote q)
{
	struct hf_buf b = {0};
	const char *p = tpl, *brace;

	while ((brace = strchr(p, '{'))) {
		size_t n = placeholder(tpl, brace);

		hf_buf_append(&b, p, (size_t)(brace - p) + (n ? 0 : 1));
		if (n)
			value(&b, brace + 1, n, v, q);
		p = brace + 1 + (n ? n + 1 : 0);
	}
	hf_buf_puts(&b, p);
	return hf_buf_detach(&b);
}
