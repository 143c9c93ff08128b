/* Reading a YAML document with positions: a walker over libfyaml's tree
 * that names FILE:LINE:COL in every error, and typed readers for the
 * fields of a mapping. The manifest and every change kind parse through
 * it; nothing here knows what a manifest holds. */
#ifndef HF_CORE_YAML_H
#define HF_CORE_YAML_H

#include <stddef.h>

#include <libfyaml.h>

#include "util/err.h"

struct hf_pos {
	int line;    /* 1-based; 0 when unknown */
	int col;     /* 1-based */
};

/* One document being read. */
struct hf_yaml {
	const char *path;       /* the file, as messages name it */
	struct hf_err *err;     /* OUT: the first error */
	const char *text;       /* the document's bytes, for positions */
	size_t len;
};

/* One expected key of a mapping, filled by hf_yaml_walk(). */
struct hf_field {
	const char *name;
	int required;
	int seen;               /* OUT */
	struct fy_node *val;    /* OUT: the value node */
	struct hf_pos pos;      /* OUT: position of the key */
};

/* The longest text hf_yaml_parse() reads: a flag document's limit. */
#define HF_YAML_MAX_BYTES (16 * 1024 * 1024)

/* Parse 'y->text' as exactly one YAML document (YAML 1.2, nothing said on
 * stderr) and hand its root, NULL for an empty document, to 'walk'.
 * Returns what 'walk' returns, or HF_EINVAL with "PATH:LINE:COL: invalid
 * yaml: ..." when the text is not one document, is not UTF-8 text of
 * YAML's printable characters (libfyaml 0.7 loops for ever on some bytes
 * that are not UTF-8), or is over HF_YAML_MAX_BYTES. */
int hf_yaml_parse(struct hf_yaml *y, int (*walk)(struct hf_yaml *y, struct fy_node *root, void *ud),
		  void *ud);

/* Fill the error with "PATH:LINE:COL: message" and return HF_EINVAL. */
int hf_yaml_fail(struct hf_yaml *y, struct hf_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Where 'n' starts in the file; 'fallback' (usually the position of the
 * key that holds 'n') for an empty value or collection. */
struct hf_pos hf_yaml_pos(struct hf_yaml *y, struct fy_node *n, struct hf_pos fallback);

int hf_yaml_is_alias(struct fy_node *n);
/* An empty value, "~" or "null", but not a quoted "null". */
int hf_yaml_is_null(struct fy_node *n);
int hf_yaml_is_plain(struct fy_node *n);
/* Only blanks (or nothing). */
int hf_yaml_blank(const char *s);

/* The text of scalar 'n', the value of 'what' whose key sits at 'at'.
 * 'expect' completes "'what' must be ..." for a missing, null or
 * non-scalar value. The string belongs to the document; NULL with the
 * error filled on failure. */
const char *hf_yaml_scalar(struct hf_yaml *y, struct fy_node *n, struct hf_pos at,
			   const char *what, const char *expect);

/* Check that 'map' is a mapping whose keys are all in 'fields', record
 * each value and key position there, and check the required ones. 'where'
 * names the mapping in messages, quoted when it is a key of the file
 * ("'rollout'") and plain when it is not ("wave 2"). */
int hf_yaml_walk(struct hf_yaml *y, struct fy_node *map, struct hf_pos at, const char *where,
		 struct hf_field *fields, size_t nfields);

enum hf_yaml_flags {
	HF_YAML_EMPTY_OK = 1 << 0,   /* an empty (or null) collection is no error */
};

/* Check that the value 'f' holds is a mapping (hf_yaml_map) or a list
 * (hf_yaml_seq), not empty unless HF_YAML_EMPTY_OK; 'expect' completes
 * "'name' must be ...". '*count' gets the number of items. */
int hf_yaml_map(struct hf_yaml *y, const struct hf_field *f, const char *expect, unsigned flags,
		size_t *count);
int hf_yaml_seq(struct hf_yaml *y, const struct hf_field *f, const char *expect, unsigned flags,
		size_t *count);

/* Typed readers of one field's value. */
int hf_yaml_text(struct hf_yaml *y, const struct hf_field *f, char **out);  /* non-blank; caller frees */
int hf_yaml_duration(struct hf_yaml *y, const struct hf_field *f, long long min_ms, long long *out);
int hf_yaml_bool(struct hf_yaml *y, const struct hf_field *f, int *out);
/* One of 'names' (NULL-terminated): '*out' gets its index. */
int hf_yaml_enum(struct hf_yaml *y, const struct hf_field *f, const char *const *names, int *out);

/* A file named in the document, made absolute relative to the document's
 * directory. Caller frees. */
char *hf_yaml_relative(const struct hf_yaml *y, const char *file);
/* Read such a file (a regular file of at most 4 MiB) into '*out'
 * (NUL-terminated; caller frees) and '*len'; 'what' names it in
 * messages ("function file"), 'pos' is where the document names it. */
int hf_yaml_read_file(struct hf_yaml *y, const char *file, struct hf_pos pos, const char *what,
		      char **out, size_t *len);

/* Of two fields of one mapping, the one written last: an error about two
 * fields that do not go together is reported where the pair completes. */
const struct hf_field *hf_yaml_later(const struct hf_field *a, const struct hf_field *b);

/* Plain text readers: 0 when 's' is what they read, -1 otherwise.
 * Positive: digits only, at least 1. Number: non-negative decimal, no
 * sign, hex, inf or nan. Percent: a number followed by '%'. */
int hf_parse_positive(const char *s, long *out);
int hf_parse_number(const char *s, double *out);
int hf_parse_percent(const char *s, double *out);

#endif
