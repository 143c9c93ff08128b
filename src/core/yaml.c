/* Reading a YAML document with positions. libfyaml builds the tree; the
 * helpers below check values and name PATH:LINE:COL on each error. What a
 * document must hold is the caller's business (manifest.c, the kinds). */
#include "core/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/misc.h"

/* A file a document names (code, a key list) is small; this only stops a
 * device or a log named by mistake from being read without end. */
#define FILE_MAX_BYTES	(4 * 1024 * 1024)

int hf_yaml_fail(struct hf_yaml *y, struct hf_pos pos, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pos.line < 1) {
		pos.line = 1;
		pos.col = 1;
	}
	return hf_err_set(y->err, HF_EINVAL, "%s:%d:%d: %s", y->path, pos.line, pos.col, msg);
}

static struct hf_pos mark_pos(const struct fy_mark *mk)
{
	struct hf_pos pos = { 0, 0 };

	if (mk) {
		pos.line = mk->line + 1;
		pos.col = mk->column + 1;
	}
	return pos;
}

/* Where token 'tok' starts, 1-based. libfyaml starts a quoted scalar or an
 * alias after its opening quote or '*'; people expect the position of that
 * character, so step back onto it when it is there. */
static struct hf_pos tok_pos(struct hf_yaml *y, struct fy_token *tok)
{
	const struct fy_mark *mk = tok ? fy_token_start_mark(tok) : NULL;
	struct hf_pos pos = mark_pos(mk);
	enum fy_scalar_style style;
	char prev;

	if (!mk || mk->input_pos < 1 || mk->input_pos > y->len || pos.col < 2)
		return pos;
	prev = y->text[mk->input_pos - 1];
	style = fy_token_scalar_style(tok);
	if ((fy_token_get_type(tok) == FYTT_ALIAS && prev == '*') ||
	    (style == FYSS_DOUBLE_QUOTED && prev == '"') ||
	    (style == FYSS_SINGLE_QUOTED && prev == '\''))
		pos.col--;
	return pos;
}

/* libfyaml 0.7 has no start mark for collections, so a mapping or sequence
 * is placed at its first scalar, which for block style is exactly where it
 * starts. An empty collection or value has no token at all. */
struct hf_pos hf_yaml_pos(struct hf_yaml *y, struct fy_node *n, struct hf_pos fallback)
{
	struct fy_node_pair *pair;
	struct fy_token *tok;
	struct fy_node *item;
	void *it = NULL;

	if (!n)
		return fallback;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		tok = fy_node_get_scalar_token(n);
		if (tok && fy_token_start_mark(tok))
			return tok_pos(y, tok);
		return fallback;
	case FYNT_MAPPING:
		pair = fy_node_mapping_iterate(n, &it);
		return pair ? hf_yaml_pos(y, fy_node_pair_key(pair), fallback) : fallback;
	case FYNT_SEQUENCE:
		item = fy_node_sequence_iterate(n, &it);
		return item ? hf_yaml_pos(y, item, fallback) : fallback;
	}
	return fallback;
}

int hf_yaml_is_alias(struct fy_node *n)
{
	return n && fy_node_is_alias(n);
}

/* YAML 1.2's core schema: a quoted "null" is a string. */
int hf_yaml_is_null(struct fy_node *n)
{
	const char *s;

	if (!n || fy_node_is_null(n))
		return 1;
	if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN)
		return 0;
	s = fy_node_get_scalar0(n);
	return !s || !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

int hf_yaml_is_plain(struct fy_node *n)
{
	return n && fy_node_is_scalar(n) && fy_node_get_style(n) == FYNS_PLAIN;
}

int hf_yaml_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

const char *hf_yaml_scalar(struct hf_yaml *y, struct fy_node *n, struct hf_pos at,
			   const char *what, const char *expect)
{
	struct hf_pos pos = hf_yaml_pos(y, n, at);
	const char *s;

	if (hf_yaml_is_alias(n)) {
		hf_yaml_fail(y, pos, "yaml aliases are not supported ('%s')", what);
		return NULL;
	}
	if (hf_yaml_is_null(n) || !fy_node_is_scalar(n) || !(s = fy_node_get_scalar0(n))) {
		hf_yaml_fail(y, pos, "'%s' must be %s", what, expect);
		return NULL;
	}
	if (strlen(s) != fy_node_get_scalar_length(n)) {
		hf_yaml_fail(y, pos, "'%s' contains a nul character", what);
		return NULL;
	}
	return s;
}

int hf_yaml_walk(struct hf_yaml *y, struct fy_node *map, struct hf_pos at, const char *where,
		 struct hf_field *fields, size_t nfields)
{
	struct fy_node_pair *pair;
	struct hf_pos mpos = hf_yaml_pos(y, map, at);
	void *it = NULL;
	size_t i;

	if (hf_yaml_is_alias(map))
		return hf_yaml_fail(y, mpos, "yaml aliases are not supported (%s)", where);
	if (!map || !fy_node_is_mapping(map))
		return hf_yaml_fail(y, mpos, "%s must be a mapping", where);

	while ((pair = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct hf_pos kpos = hf_yaml_pos(y, key, mpos);
		const char *name;

		if (!key || hf_yaml_is_alias(key) || !fy_node_is_scalar(key) ||
		    !(name = fy_node_get_scalar0(key)))
			return hf_yaml_fail(y, kpos, "invalid key in %s (expected a field name)", where);
		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, name))
				break;
		if (i == nfields)
			return hf_yaml_fail(y, kpos, "unknown field '%s' in %s", name, where);
		if (fields[i].seen)
			return hf_yaml_fail(y, kpos, "duplicate key '%s'", name);
		fields[i].seen = 1;
		fields[i].val = fy_node_pair_value(pair);
		fields[i].pos = kpos;
	}

	for (i = 0; i < nfields; i++)
		if (fields[i].required && !fields[i].seen)
			return hf_yaml_fail(y, mpos, "missing required field '%s' in %s", fields[i].name,
					    where);
	return 0;
}

/* The common part of hf_yaml_map() and hf_yaml_seq(). */
static int collection(struct hf_yaml *y, const struct hf_field *f, const char *expect,
		      unsigned flags, enum fy_node_type type, size_t *count)
{
	struct hf_pos pos = hf_yaml_pos(y, f->val, f->pos);
	int n;

	if (hf_yaml_is_alias(f->val))
		return hf_yaml_fail(y, pos, "yaml aliases are not supported ('%s')", f->name);
	if (hf_yaml_is_null(f->val) && (flags & HF_YAML_EMPTY_OK)) {
		*count = 0;
		return 0;
	}
	if (hf_yaml_is_null(f->val) || fy_node_get_type(f->val) != type)
		return hf_yaml_fail(y, pos, "'%s' must be %s", f->name, expect);
	n = type == FYNT_MAPPING ? fy_node_mapping_item_count(f->val)
				 : fy_node_sequence_item_count(f->val);
	if (n <= 0 && !(flags & HF_YAML_EMPTY_OK))
		return hf_yaml_fail(y, pos, "'%s' must not be empty", f->name);
	*count = n > 0 ? (size_t)n : 0;
	return 0;
}

int hf_yaml_map(struct hf_yaml *y, const struct hf_field *f, const char *expect, unsigned flags,
		size_t *count)
{
	return collection(y, f, expect, flags, FYNT_MAPPING, count);
}

int hf_yaml_seq(struct hf_yaml *y, const struct hf_field *f, const char *expect, unsigned flags,
		size_t *count)
{
	return collection(y, f, expect, flags, FYNT_SEQUENCE, count);
}

int hf_yaml_text(struct hf_yaml *y, const struct hf_field *f, char **out)
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a non-empty string");

	if (!s)
		return HF_EINVAL;
	if (hf_yaml_blank(s))
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "'%s' must be a non-empty string",
				    f->name);
	*out = hf_xstrdup(s);
	return 0;
}

/* 'min_ms' is 0 or 1 (for "must be greater than 0"). */
int hf_yaml_duration(struct hf_yaml *y, const struct hf_field *f, long long min_ms, long long *out)
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a duration");
	struct hf_pos pos = hf_yaml_pos(y, f->val, f->pos);
	long long v;

	if (!s)
		return HF_EINVAL;
	if (hf_duration_parse(s, &v))
		return hf_yaml_fail(y, pos, "invalid duration '%s' for '%s' "
				    "(expected e.g. 0, 500ms, 10s, 2m or 1h)", s, f->name);
	if (v < min_ms)
		return hf_yaml_fail(y, pos, "'%s' must be greater than 0", f->name);
	*out = v;
	return 0;
}

int hf_yaml_bool(struct hf_yaml *y, const struct hf_field *f, int *out)
{
	static const char *const names[] = { "true", "false", NULL };
	int i, rc = hf_yaml_enum(y, f, names, &i);

	if (!rc)
		*out = i == 0;
	return rc;
}

int hf_yaml_enum(struct hf_yaml *y, const struct hf_field *f, const char *const *names, int *out)
{
	struct hf_buf list = {0};
	const char *s;
	int i, n, rc;

	for (n = 0; names[n]; n++)
		hf_buf_printf(&list, "%s%s", !n ? "" : names[n + 1] ? ", " : " or ", names[n]);
	s = hf_yaml_scalar(y, f->val, f->pos, f->name, list.s);
	rc = s ? 0 : HF_EINVAL;
	for (i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			break;
	if (s && i == n)
		rc = hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "invalid %s '%s' (expected %s)",
				  f->name, s, list.s);
	else if (s)
		*out = i;
	hf_buf_release(&list);
	return rc;
}

char *hf_yaml_relative(const struct hf_yaml *y, const char *file)
{
	const char *slash = strrchr(y->path, '/');

	if (file[0] == '/')
		return hf_xstrdup(file);
	return slash ? hf_xasprintf("%.*s/%s", (int)(slash - y->path), y->path, file)
		     : hf_xstrdup(file);
}

int hf_yaml_read_file(struct hf_yaml *y, const char *file, struct hf_pos pos, const char *what,
		      char **out, size_t *len)
{
	char *path = hf_yaml_relative(y, file), *buf = NULL;
	struct stat st;
	size_t n = 0;
	FILE *fp;
	int rc = 0;

	fp = fopen(path, "rb");
	if (!fp || fstat(fileno(fp), &st) || !S_ISREG(st.st_mode) || st.st_size > FILE_MAX_BYTES) {
		rc = hf_yaml_fail(y, pos, "cannot read %s '%s': %s", what, path,
				  !fp ? strerror(errno) : "not a regular file of at most 4 MiB");
		goto out;
	}
	buf = hf_xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp)) {
		rc = hf_yaml_fail(y, pos, "cannot read %s '%s': %s", what, path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	if (fp)
		fclose(fp);
	free(buf);
	free(path);
	return rc;
}

const struct hf_field *hf_yaml_later(const struct hf_field *a, const struct hf_field *b)
{
	if (a->pos.line != b->pos.line)
		return a->pos.line > b->pos.line ? a : b;
	return a->pos.col > b->pos.col ? a : b;
}

int hf_parse_positive(const char *s, long *out)
{
	const char *p;
	char *end;
	long v;

	if (!*s)
		return -1;
	for (p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1)
		return -1;
	*out = v;
	return 0;
}

/* strtod() alone would take a sign, hex, inf and nan. */
int hf_parse_number(const char *s, double *out)
{
	const char *p = s;
	int digits = 0;
	char *end;
	double v;

	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (!digits)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int hf_parse_percent(const char *s, double *out)
{
	size_t len = strlen(s);
	char body[64];

	if (len < 2 || len >= sizeof(body) || s[len - 1] != '%')
		return -1;
	memcpy(body, s, len - 1);
	body[len - 1] = '\0';
	return hf_parse_number(body, out);
}

/* Turn the first error libfyaml collected into our message. Collected
 * errors carry 1-based positions; the token, when there is one, is more
 * precise and its mark is 0-based. */
static int yaml_error(struct hf_yaml *y, struct fy_diag *diag)
{
	struct fy_diag_error *e;
	struct hf_pos pos = { 1, 1 };
	void *it = NULL;

	while ((e = fy_diag_errors_iterate(diag, &it)))
		if (e->type >= FYET_ERROR)
			break;
	if (!e)
		return hf_yaml_fail(y, pos, "invalid yaml");
	if (e->fyt && fy_token_start_mark(e->fyt)) {
		pos = tok_pos(y, e->fyt);
	} else if (e->line > 0) {
		pos.line = e->line;
		pos.col = e->column > 0 ? e->column : 1;
	}
	if (e->msg && !strcmp(e->msg, "duplicate key") && e->fyt) {
		size_t len = 0;
		const char *key = fy_token_get_text(e->fyt, &len);

		if (key)
			return hf_yaml_fail(y, pos, "duplicate key '%.*s'", (int)len, key);
	}
	return hf_yaml_fail(y, pos, "invalid yaml: %s", e->msg ? e->msg : "syntax error");
}

/* The length of the UTF-8 sequence at 'p' (at most 'n' bytes), and its
 * code point in '*cp'; 0 when it is not one: overlong forms, surrogates
 * and code points above U+10FFFF are not. */
static size_t utf8_len(const unsigned char *p, size_t n, unsigned *out)
{
	size_t len, i;
	unsigned cp;

	*out = p[0];
	if (p[0] < 0x80)
		return 1;
	len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
	if (!len || len > n || p[0] > 0xf4)
		return 0;
	cp = p[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	*out = cp;
	return len;
}

/* YAML 1.2's printable characters (c-printable): anything else, a NUL or
 * another control character, is not YAML text. */
static int printable(unsigned cp)
{
	return cp == 0x09 || cp == 0x0a || cp == 0x0d || (cp >= 0x20 && cp <= 0x7e) || cp == 0x85 ||
	       (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	       (cp >= 0x10000 && cp <= 0x10ffff);
}

/* YAML is UTF-8 text of printable characters here. libfyaml 0.7 loops for
 * ever on some bytes that are not UTF-8 (a '%' directive followed by one)
 * and crashes on some control characters (NULs and tabs in a plain
 * scalar), so neither ever reaches it; the fuzzer found both. */
static int check_text(struct hf_yaml *y)
{
	const unsigned char *p = (const unsigned char *)y->text, *end = p + y->len;
	struct hf_pos pos = { 1, 1 };
	unsigned cp = 0;
	size_t n;

	/* What bounds the time libfyaml takes: it is given printable UTF-8 of
	 * at most the largest file any caller reads, which it scans in time
	 * linear in its length and nests 64 deep at most; duplicate keys,
	 * which it finds in quadratic time, are found by find_duplicate(). */
	if (y->len > HF_YAML_MAX_BYTES)
		return hf_yaml_fail(y, pos, "invalid yaml: the text is over %d MiB",
				    HF_YAML_MAX_BYTES >> 20);
	while (p < end) {
		n = utf8_len(p, (size_t)(end - p), &cp);
		if (!n)
			return hf_yaml_fail(y, pos, "invalid yaml: the text is not UTF-8 (byte 0x%02x)",
					    *p);
		if (!printable(cp))
			return hf_yaml_fail(y, pos, "invalid yaml: character U+%04X is not allowed "
					    "in yaml", cp);
		if (*p == '\n') {
			pos.line++;
			pos.col = 0;
		}
		pos.col++;
		p += n;
	}
	return 0;
}

/* A key of a mapping, for finding duplicates. */
struct key {
	const char *text;
	size_t len;
	struct hf_pos pos;
};

static int pos_before(struct hf_pos a, struct hf_pos b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);

	if (c || x->len != y->len)
		return c ? c : x->len < y->len ? -1 : 1;
	return pos_before(x->pos, y->pos) ? -1 : pos_before(y->pos, x->pos);
}

/* The first key, in file order, that repeats an earlier key of its
 * mapping, anywhere under 'n'; '*dup' is left alone when there is none.
 * libfyaml 0.7 looks for duplicates by comparing each key with every
 * earlier one (a mapping of 7000 keys took 1.7 s, 28000 half a minute),
 * so it is told to allow them, and they are found here by sorting.
 * Scalar keys are compared by their text; the walkers refuse the others. */
static void find_duplicate(struct hf_yaml *y, struct fy_node *n, struct key *dup)
{
	struct hf_pos none = { 0, 0 };
	struct fy_node_pair *pair;
	struct fy_node *item;
	struct key *keys;
	size_t count = 0, i;
	void *it = NULL;

	if (!n || fy_node_is_alias(n) || fy_node_is_scalar(n))
		return;
	if (fy_node_is_sequence(n)) {
		while ((item = fy_node_sequence_iterate(n, &it)))
			find_duplicate(y, item, dup);
		return;
	}
	keys = hf_xcalloc((size_t)fy_node_mapping_item_count(n) + 1, sizeof(*keys));
	while ((pair = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(pair);

		find_duplicate(y, k, dup);
		find_duplicate(y, fy_node_pair_value(pair), dup);
		if (!k || fy_node_is_alias(k) || !fy_node_is_scalar(k) ||
		    !(keys[count].text = fy_node_get_scalar(k, &keys[count].len)))
			continue;
		keys[count++].pos = hf_yaml_pos(y, k, none);
	}
	qsort(keys, count, sizeof(*keys), cmp_key);
	for (i = 1; i < count; i++)
		if (keys[i].len == keys[i - 1].len &&
		    !memcmp(keys[i].text, keys[i - 1].text, keys[i].len) &&
		    (!dup->text || pos_before(keys[i].pos, dup->pos)))
			*dup = keys[i];
	free(keys);
}

static int check_duplicates(struct hf_yaml *y, struct fy_node *root)
{
	struct key dup = {0};

	find_duplicate(y, root, &dup);
	if (dup.text)
		return hf_yaml_fail(y, dup.pos, "duplicate key '%.*s'", (int)dup.len, dup.text);
	return 0;
}

/* libfyaml 0.7.12 crashes destroying its parser after some errors that
 * follow an explicit key ("? -:<TAB>-", six bytes, found by fuzzing:
 * 'hotfix validate' crashed). No manifest or flag document needs the '?'
 * indicator, so it is refused before the document is loaded: the scanner
 * finds it, and a parser stopped there is destroyed safely. Only text
 * holding a '?' is scanned. */
static int check_explicit_keys(struct hf_yaml *y, const struct fy_parse_cfg *cfg)
{
	struct fy_parser *scan;
	struct fy_token *tok;
	const struct fy_mark *mk;
	struct hf_pos pos = { 0, 0 };

	if (!memchr(y->text, '?', y->len))
		return 0;
	scan = fy_parser_create(cfg);
	if (!scan || fy_parser_set_string(scan, y->text, y->len)) {
		if (scan)
			fy_parser_destroy(scan);
		return hf_err_set(y->err, HF_ERR, "cannot create yaml parser");
	}
	while (!pos.line && (tok = fy_scan(scan))) {
		mk = fy_token_start_mark(tok);
		if (fy_token_get_type(tok) == FYTT_KEY && mk && mk->input_pos < y->len &&
		    y->text[mk->input_pos] == '?')
			pos = tok_pos(y, tok);
		fy_scan_token_free(scan, tok);
	}
	fy_parser_destroy(scan);
	if (pos.line)
		return hf_yaml_fail(y, pos, "invalid yaml: explicit keys ('? ') are not supported");
	return 0;
}

/* libfyaml must never write to stderr: everything it says is either
 * collected as an error or dropped here. */
static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

int hf_yaml_parse(struct hf_yaml *y, int (*walk)(struct hf_yaml *y, struct fy_node *root, void *ud),
		  void *ud)
{
	struct fy_document *doc = NULL, *extra = NULL;
	struct fy_parser *parser = NULL;
	struct fy_diag *diag = NULL;
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	int rc;

	rc = check_text(y);
	if (rc)
		return rc;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag) {
		rc = hf_err_set(y->err, HF_ERR, "cannot create yaml diagnostics");
		goto out;
	}
	fy_diag_set_collect_errors(diag, true);

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE |
		     FYPCF_ALLOW_DUPLICATE_KEYS;   /* found by find_duplicate() */
	pcfg.diag = diag;
	rc = check_explicit_keys(y, &pcfg);
	if (rc)
		goto out;
	parser = fy_parser_create(&pcfg);
	if (!parser || fy_parser_set_string(parser, y->text, y->len)) {
		rc = hf_err_set(y->err, HF_ERR, "cannot create yaml parser");
		goto out;
	}
	doc = fy_parse_load_document(parser);
	if (fy_diag_got_error(diag)) {
		rc = yaml_error(y, diag);
		goto out;
	}
	/* A second document would be silently ignored: refuse it instead. */
	if (doc) {
		extra = fy_parse_load_document(parser);
		if (fy_diag_got_error(diag)) {
			rc = yaml_error(y, diag);
			goto out;
		}
		if (extra) {
			struct hf_pos one = { 1, 1 };

			rc = hf_yaml_fail(y, hf_yaml_pos(y, fy_document_root(extra), one),
					  "a manifest holds one yaml document, found a second one");
			goto out;
		}
	}
	rc = doc ? check_duplicates(y, fy_document_root(doc)) : 0;
	if (rc)
		goto out;
	rc = walk(y, doc ? fy_document_root(doc) : NULL, ud);
out:
	if (extra)
		fy_parse_document_destroy(parser, extra);
	if (doc)
		fy_parse_document_destroy(parser, doc);
	if (parser)
		fy_parser_destroy(parser);
	/* Not fy_diag_unref(): only destroy frees the collected errors. */
	if (diag)
		fy_diag_destroy(diag);
	return rc;
}
