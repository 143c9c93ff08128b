/* Per-node templates: text an operator writes once, with placeholders
 * that stand for one node's values. The exec kind's commands and the
 * guard's PromQL checks use the same placeholders (contract):
 *
 *   {id} {host} {port} {role} {group} {node} (= host:port)
 *   {labels.KEY}    an inventory label ("" where there is none)
 *   {side} {key}    where the user of the template allows them
 *
 * A placeholder is a lower-case word (or "labels." and a label's name) in
 * braces, not after '$'. Anything else in braces is the template's own
 * language: a shell's "${HOME}" or awk's "{print $2}", PromQL's
 * '{instance="a:1"}'. Values are quoted for that language. */
#ifndef HF_UTIL_TPL_H
#define HF_UTIL_TPL_H

#include <stddef.h>

struct hf_tpl_vars {
	const char *id, *host, *port, *role, *group, *node;
	const char *side;        /* verify's "after" or "before" */
	const char *key;         /* a reader's key */
	/* Label 'key' of the node, or NULL: NULL when there are none. */
	const char *(*label)(const void *ctx, const char *key);
	const void *ctx;
};

enum hf_tpl_quote {
	HF_TPL_SHELL,    /* in single quotes, for /bin/sh -c */
	HF_TPL_PROMQL,   /* '\' and '"' escaped: inside a PromQL "string" */
};

/* The placeholders a template may have beyond the node's. */
enum hf_tpl_allow {
	HF_TPL_SIDE = 1 << 0,
	HF_TPL_KEY = 1 << 1,
};

/* The first placeholder of 'tpl' that is not one, or one that is not
 * allowed ({side}, {key} unless 'allow' has them): its offset from 'tpl'
 * into '*at' and its name's length into '*len' (name only, without the
 * braces). Returns 1 when there is such a word, 0 when every placeholder
 * is good. */
int hf_tpl_bad_word(const char *tpl, unsigned allow, size_t *at, size_t *len);

/* 'tpl' with each placeholder replaced by its value in 'v', quoted as
 * 'q' says. Unknown words stay as they are (hf_tpl_bad_word() refused
 * them when the template was read). Caller frees. */
char *hf_tpl_render(const char *tpl, const struct hf_tpl_vars *v, enum hf_tpl_quote q);

#endif
