/* Reading a hotfix manifest: YAML text in, a validated struct hf_manifest out.
 * libfyaml builds the document tree; the walk below checks every field and
 * names PATH:LINE:COL on each error. Nothing here talks to a cluster. */
#include "core/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/misc.h"

/* A manifest is a few hundred bytes; this only stops "hotfix apply /dev/zero". */
#define MANIFEST_MAX_BYTES	(4 * 1024 * 1024)
#define NAME_MAX_LEN		63

/* Change kinds that have a name in the design but no implementation yet. */
static const char *const unsupported_kinds[] = {
	"flag", "exec",
};

static const char *const metrics[] = {
	"error_rate", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
	"latency_p999_ms", "replication_lag_ms", "replication_lag_bytes",
	"heartbeat_ms", "probe_latency_ms", "probe_latency_p50_ms", "probe_convergence_ms",
	"memory_used_ratio", "rejected_connections", "evictions",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct pctx {
	const char *path;
	struct hf_err *err;
	const char *text;       /* the manifest's bytes, for positions */
	size_t len;
};

/* One expected key of a mapping, filled by walk_map(). */
struct field {
	const char *name;
	int required;
	int seen;               /* OUT */
	struct fy_node *val;    /* OUT: the value node */
	struct hf_pos pos;      /* OUT: position of the key */
};

static int fail(struct pctx *c, struct hf_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fill the error with "PATH:LINE:COL: message" and return HF_EINVAL. */
static int fail(struct pctx *c, struct hf_pos pos, const char *fmt, ...)
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
	return hf_err_set(c->err, HF_EINVAL, "%s:%d:%d: %s", c->path,
			  pos.line, pos.col, msg);
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
static struct hf_pos tok_pos(struct pctx *c, struct fy_token *tok)
{
	const struct fy_mark *mk = tok ? fy_token_start_mark(tok) : NULL;
	struct hf_pos pos = mark_pos(mk);
	enum fy_scalar_style style;
	char prev;

	if (!mk || mk->input_pos < 1 || mk->input_pos > c->len || pos.col < 2)
		return pos;
	prev = c->text[mk->input_pos - 1];
	style = fy_token_scalar_style(tok);
	if ((fy_token_get_type(tok) == FYTT_ALIAS && prev == '*') ||
	    (style == FYSS_DOUBLE_QUOTED && prev == '"') ||
	    (style == FYSS_SINGLE_QUOTED && prev == '\''))
		pos.col--;
	return pos;
}

/* Where 'n' starts in the file. libfyaml 0.7 has no start mark for
 * collections, so a mapping or sequence is placed at its first scalar,
 * which for block style is exactly where it starts. An empty collection or
 * an empty value has no token at all: then 'fallback' (usually the
 * position of the key that holds 'n') is used. */
static struct hf_pos node_pos(struct pctx *c, struct fy_node *n,
			      struct hf_pos fallback)
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
			return tok_pos(c, tok);
		return fallback;
	case FYNT_MAPPING:
		pair = fy_node_mapping_iterate(n, &it);
		return pair ? node_pos(c, fy_node_pair_key(pair), fallback) : fallback;
	case FYNT_SEQUENCE:
		item = fy_node_sequence_iterate(n, &it);
		return item ? node_pos(c, item, fallback) : fallback;
	}
	return fallback;
}

static int is_alias(struct fy_node *n)
{
	return n && fy_node_is_alias(n);
}

/* An empty value, "~" or "null" (YAML 1.2 core schema), but not a quoted
 * "null", which is a string. */
static int is_null(struct fy_node *n)
{
	const char *s;

	if (!n || fy_node_is_null(n))
		return 1;
	if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN)
		return 0;
	s = fy_node_get_scalar0(n);
	return !s || !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int is_plain(struct fy_node *n)
{
	return n && fy_node_is_scalar(n) && fy_node_get_style(n) == FYNS_PLAIN;
}

/* The text of scalar 'n', the value of field 'what' whose key sits at 'at'.
 *
 * 'expect' completes "'what' must be ..." for values that are missing, null
 * or not a scalar. The returned string belongs to the document. Returns
 * NULL with the error filled on failure. */
static const char *scalar(struct pctx *c, struct fy_node *n, struct hf_pos at,
			  const char *what, const char *expect)
{
	const char *s;

	if (is_alias(n)) {
		fail(c, node_pos(c, n, at), "yaml aliases are not supported ('%s')",
		     what);
		return NULL;
	}
	if (is_null(n) || !fy_node_is_scalar(n)) {
		fail(c, node_pos(c, n, at), "'%s' must be %s", what, expect);
		return NULL;
	}
	s = fy_node_get_scalar0(n);
	if (!s) {
		fail(c, node_pos(c, n, at), "'%s' must be %s", what, expect);
		return NULL;
	}
	if (strlen(s) != fy_node_get_scalar_length(n)) {
		fail(c, node_pos(c, n, at), "'%s' contains a nul character", what);
		return NULL;
	}
	return s;
}

/* Check that 'map' is a mapping whose keys are all in 'fields', record
 * each value and key position there, and check the required ones.
 *
 * 'where' names the mapping in messages, already quoted when it is a key
 * of the file ("'rollout'") and plain when it is not ("wave 2"). 'at' is
 * the position used when 'map' has no position of its own. */
static int walk_map(struct pctx *c, struct fy_node *map, struct hf_pos at,
		    const char *where, struct field *fields, size_t nfields)
{
	struct fy_node_pair *pair;
	struct hf_pos mpos = node_pos(c, map, at);
	void *it = NULL;
	size_t i;

	if (is_alias(map))
		return fail(c, mpos, "yaml aliases are not supported (%s)", where);
	if (!map || !fy_node_is_mapping(map))
		return fail(c, mpos, "%s must be a mapping", where);

	while ((pair = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct hf_pos kpos = node_pos(c, key, mpos);
		const char *name;

		if (!key || is_alias(key) || !fy_node_is_scalar(key) ||
		    !(name = fy_node_get_scalar0(key)))
			return fail(c, kpos, "invalid key in %s (expected a field name)",
				    where);
		for (i = 0; i < nfields; i++)
			if (!strcmp(fields[i].name, name))
				break;
		if (i == nfields)
			return fail(c, kpos, "unknown field '%s' in %s", name, where);
		if (fields[i].seen)
			return fail(c, kpos, "duplicate key '%s'", name);
		fields[i].seen = 1;
		fields[i].val = fy_node_pair_value(pair);
		fields[i].pos = kpos;
	}

	for (i = 0; i < nfields; i++)
		if (fields[i].required && !fields[i].seen)
			return fail(c, mpos, "missing required field '%s' in %s",
				    fields[i].name, where);
	return 0;
}

/* Digits only ("1", "42"), at least 1, no sign or fraction. Quoted digits
 * are accepted too: the style of a scalar says nothing about its meaning. */
static int parse_positive(const char *s, long *out)
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

/* A non-negative decimal number: "2", "0.01", ".5", "1e-3". No sign, no
 * hex, no inf or nan, which strtod() alone would accept. */
static int parse_number(const char *s, double *out)
{
	const char *p = s;
	int digits = 0;
	char *end;
	double v;

	while (*p >= '0' && *p <= '9') {
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			p++;
			digits++;
		}
	}
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

/* "12.5%" -> 12.5. Returns -1 when 's' is not a number followed by '%'. */
static int parse_percent(const char *s, double *out)
{
	size_t len = strlen(s);
	char body[64];

	if (len < 2 || len >= sizeof(body) || s[len - 1] != '%')
		return -1;
	memcpy(body, s, len - 1);
	body[len - 1] = '\0';
	return parse_number(body, out);
}

static int valid_name(const char *s)
{
	size_t len = strlen(s);
	size_t i;

	if (len < 1 || len > NAME_MAX_LEN || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int valid_param_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return 0;
	return 1;
}

static int is_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

/* A non-empty string field such as 'owner'; '*out' gets a copy. */
static int parse_text(struct pctx *c, struct field *f, char **out)
{
	const char *s = scalar(c, f->val, f->pos, f->name, "a non-empty string");

	if (!s)
		return HF_EINVAL;
	if (is_blank(s))
		return fail(c, node_pos(c, f->val, f->pos),
			    "'%s' must be a non-empty string", f->name);
	*out = hf_xstrdup(s);
	return 0;
}

/* A duration field: 'min_ms' is 0 or 1 (for "must be greater than 0"). */
static int parse_duration(struct pctx *c, struct field *f, long long min_ms,
			  long long *out)
{
	const char *s = scalar(c, f->val, f->pos, f->name, "a duration");
	struct hf_pos pos = node_pos(c, f->val, f->pos);

	if (!s)
		return HF_EINVAL;
	if (hf_duration_parse(s, out))
		return fail(c, pos, "invalid duration '%s' for '%s' "
			    "(expected e.g. 0, 500ms, 10s, 2m or 1h)", s, f->name);
	if (*out < min_ms)
		return fail(c, pos, "'%s' must be greater than 0", f->name);
	return 0;
}

/* "true" or "false". */
static int parse_bool(struct pctx *c, struct field *f, int *out)
{
	const char *v = scalar(c, f->val, f->pos, f->name, "true or false");

	if (!v)
		return HF_EINVAL;
	if (strcmp(v, "true") && strcmp(v, "false"))
		return fail(c, node_pos(c, f->val, f->pos), "invalid %s '%s' (expected true or false)",
			    f->name, v);
	*out = !strcmp(v, "true");
	return 0;
}

static int parse_metadata(struct pctx *c, struct field *parent,
			  struct hf_manifest *m)
{
	enum { F_NAME, F_VERSION, F_OWNER, F_PROBLEM, F_N };
	struct field f[F_N] = {
		[F_NAME] = { .name = "name", .required = 1 },
		[F_VERSION] = { .name = "version", .required = 1 },
		[F_OWNER] = { .name = "owner", .required = 1 },
		[F_PROBLEM] = { .name = "problem", .required = 1 },
	};
	const char *s;
	int rc;

	rc = walk_map(c, parent->val, parent->pos, "'metadata'", f, F_N);
	if (rc)
		return rc;

	s = scalar(c, f[F_NAME].val, f[F_NAME].pos, "name", "a name");
	if (!s)
		return HF_EINVAL;
	if (!valid_name(s))
		return fail(c, node_pos(c, f[F_NAME].val, f[F_NAME].pos),
			    "invalid name '%s' (expected 1 to 63 of a-z, 0-9 and '-', "
			    "not starting or ending with '-')", s);
	m->name = hf_xstrdup(s);

	s = scalar(c, f[F_VERSION].val, f[F_VERSION].pos, "version",
		   "a positive integer");
	if (!s)
		return HF_EINVAL;
	if (parse_positive(s, &m->version))
		return fail(c, node_pos(c, f[F_VERSION].val, f[F_VERSION].pos),
			    "invalid version '%s' (expected a positive integer)", s);

	rc = parse_text(c, &f[F_OWNER], &m->owner);
	if (!rc)
		rc = parse_text(c, &f[F_PROBLEM], &m->problem);
	return rc;
}

static const struct hf_param *find_param(const struct hf_manifest *m,
					 const char *name)
{
	size_t i, j;

	for (i = 0; i < m->nchanges; i++)
		for (j = 0; j < m->changes[i].nparams; j++)
			if (m->changes[i].params[j].name &&
			    !strcmp(m->changes[i].params[j].name, name))
				return &m->changes[i].params[j];
	return NULL;
}

/* The body of a "config" change: parameter name -> scalar value.
 *
 * Values keep the scalar's text, so "300" and 300 are the same; a plain
 * true/false becomes yes/no, the only booleans Redis understands. A
 * parameter that already appears anywhere in 'm' is an error, because two
 * changes to one parameter make the before-state ambiguous. */
static int parse_config(struct pctx *c, struct fy_node *map, struct hf_pos at,
			struct hf_change *ch, struct hf_manifest *m)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t i = 0;

	if (is_alias(map))
		return fail(c, node_pos(c, map, at),
			    "yaml aliases are not supported ('config')");
	if (is_null(map) || !fy_node_is_mapping(map))
		return fail(c, node_pos(c, map, at),
			    "'config' must be a mapping of parameter names to values");
	if (fy_node_mapping_is_empty(map))
		return fail(c, node_pos(c, map, at), "'config' must not be empty");

	ch->nparams = (size_t)fy_node_mapping_item_count(map);
	ch->params = hf_xcalloc(ch->nparams, sizeof(*ch->params));
	while ((pair = fy_node_mapping_iterate(map, &it)) && i < ch->nparams) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct fy_node *val = fy_node_pair_value(pair);
		struct hf_param *p = &ch->params[i++];
		const struct hf_param *prev;
		struct hf_pos kpos = node_pos(c, key, at);
		const char *name, *value;

		if (!key || is_alias(key) || is_null(key) || !fy_node_is_scalar(key) ||
		    !(name = fy_node_get_scalar0(key)))
			return fail(c, kpos, "invalid parameter name in 'config'");
		if (!valid_param_name(name))
			return fail(c, kpos, "invalid parameter name '%s' "
				    "(expected lowercase letters, digits and '-')", name);
		prev = find_param(m, name);
		if (prev)
			return fail(c, kpos, "duplicate parameter '%s' "
				    "(first set at %d:%d)", name, prev->pos.line,
				    prev->pos.col);
		if (is_alias(val))
			return fail(c, node_pos(c, val, kpos),
				    "yaml aliases are not supported ('%s')", name);
		if (is_null(val))
			return fail(c, node_pos(c, val, kpos),
				    "parameter '%s' has no value", name);
		if (!fy_node_is_scalar(val))
			return fail(c, node_pos(c, val, kpos),
				    "parameter '%s' must have a single value, not a %s",
				    name, fy_node_is_mapping(val) ? "mapping" : "list");
		value = scalar(c, val, kpos, name, "a value");
		if (!value)
			return HF_EINVAL;
		if (is_plain(val) && (!strcmp(value, "true") || !strcmp(value, "True") ||
				      !strcmp(value, "TRUE")))
			value = "yes";
		else if (is_plain(val) && (!strcmp(value, "false") ||
					   !strcmp(value, "False") ||
					   !strcmp(value, "FALSE")))
			value = "no";

		p->name = hf_xstrdup(name);
		p->value = hf_xstrdup(value);
		p->pos = kpos;
	}
	return 0;
}

/* A path as written in the manifest, made absolute relative to the
 * manifest's directory. Caller frees. */
static char *manifest_relative(const struct pctx *c, const char *file)
{
	const char *slash = strrchr(c->path, '/');

	if (file[0] == '/')
		return hf_xstrdup(file);
	return slash ? hf_xasprintf("%.*s/%s", (int)(slash - c->path), c->path, file)
		     : hf_xstrdup(file);
}

/* Read 'file', as written in the manifest (its value at 'pos'), relative
 * to the manifest, into '*out' (NUL-terminated; caller frees) and '*len'.
 * 'what' names the file in messages ("function file"). Anything but a
 * regular file of at most 4 MiB is refused: a file named by mistake (a
 * device, a log) must not be read without end. */
static int read_relative(struct pctx *c, const char *file, struct hf_pos pos,
			 const char *what, char **out, size_t *len)
{
	char *path = manifest_relative(c, file), *buf = NULL;
	struct stat st;
	size_t n = 0;
	FILE *fp;
	int rc = 0;

	fp = fopen(path, "rb");
	if (!fp || fstat(fileno(fp), &st) || !S_ISREG(st.st_mode) ||
	    st.st_size > MANIFEST_MAX_BYTES) {
		rc = fail(c, pos, "cannot read %s '%s': %s", what, path,
			  !fp ? strerror(errno) : "not a regular file of at most 4 MiB");
		goto out;
	}
	buf = hf_xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp)) {
		rc = fail(c, pos, "cannot read %s '%s': %s", what, path, strerror(errno));
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

/* The body of a "function" change: the library's name and the file that
 * holds its code, relative to the manifest. The file is read now, so that
 * a missing file or a library of another name is refused before anything
 * is planned; the code's SHA-256 ties a resumed run to the same code. */
static int parse_function(struct pctx *c, struct fy_node *map, struct hf_pos at,
			  struct hf_change *ch, struct hf_manifest *m)
{
	enum { F_LIBRARY, F_FILE, F_N };
	struct field f[F_N] = {
		[F_LIBRARY] = { .name = "library", .required = 1 },
		[F_FILE] = { .name = "file", .required = 1 },
	};
	struct hf_pos fpos;
	const char *lib, *file, *p;
	char want[160];
	size_t i, k;
	int rc;

	rc = walk_map(c, map, at, "'function'", f, F_N);
	if (rc)
		return rc;
	lib = scalar(c, f[F_LIBRARY].val, f[F_LIBRARY].pos, "library", "a library name");
	if (!lib)
		return HF_EINVAL;
	for (p = lib; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			break;
	if (!*lib || *p || strlen(lib) > 64)
		return fail(c, node_pos(c, f[F_LIBRARY].val, f[F_LIBRARY].pos),
			    "invalid library name '%s' (expected letters, digits and '_')", lib);
	for (i = 0; i < m->nchanges; i++)
		if (&m->changes[i] != ch && m->changes[i].library && !strcmp(m->changes[i].library, lib))
			return fail(c, f[F_LIBRARY].pos, "duplicate function library '%s'", lib);
	file = scalar(c, f[F_FILE].val, f[F_FILE].pos, "file", "a file name");
	if (!file)
		return HF_EINVAL;
	fpos = node_pos(c, f[F_FILE].val, f[F_FILE].pos);
	rc = read_relative(c, file, fpos, "function file", &ch->code, &ch->codelen);
	if (rc)
		return rc;
	/* Redis takes the library's name from the code's first line. */
	snprintf(want, sizeof(want), "#!lua name=%s", lib);
	k = strcspn(ch->code, "\r\n");
	if (strncmp(ch->code, "#!lua name=", 11))
		return fail(c, fpos, "function file '%s' does not start with '#!lua name=%s'", file, lib);
	if (k != strlen(want) || strncmp(ch->code, want, k))
		return fail(c, fpos, "function file '%s' declares '%.*s', not library '%s'", file,
			    (int)(k > 11 ? k - 11 : 0), ch->code + 11, lib);
	ch->library = hf_xstrdup(lib);
	ch->file = hf_xstrdup(file);
	hf_sha256_hex(ch->code, ch->codelen, ch->code_sha256);
	return 0;
}

static int token_edge(char ch)
{
	return !ch || strchr(" \t\r\n\"'", ch) != NULL;
}

/* Replace every whole-token occurrence of 'from' in '*text' with 'to' (a
 * token ends at a blank, a quote or the end: ">pw" inside ">pwXYZ" is not
 * one). Returns how many were replaced. */
static int replace_tokens(char **text, const char *from, const char *to)
{
	struct hf_buf b = {0};
	const char *p = *text, *hit, *scan = *text;
	size_t n = strlen(from);
	int count = 0;

	while ((hit = strstr(scan, from))) {
		if ((hit == *text || token_edge(hit[-1])) && token_edge(hit[n])) {
			hf_buf_append(&b, p, (size_t)(hit - p));
			hf_buf_puts(&b, to);
			p = hit + n;
			count++;
		}
		scan = hit + 1;
		if (scan < p)
			scan = p;
	}
	hf_buf_puts(&b, p);
	free(*text);
	*text = hf_buf_detach(&b);
	return count;
}

/* The body of an "acl" change: a user and its rules. Passwords in the rules
 * (">secret", "<secret") are replaced by their SHA-256 ("#hash", "!hash"),
 * which Redis takes as the same password, here and in the text the journal
 * keeps: a secret is never stored or printed in clear. */
static int parse_acl(struct pctx *c, struct fy_node *map, struct hf_pos at,
		     struct hf_change *ch, struct hf_manifest *m)
{
	enum { F_USER, F_RULES, F_CONFIRM, F_N };
	struct field f[F_N] = {
		[F_USER] = { .name = "user", .required = 1 },
		[F_RULES] = { .name = "rules", .required = 1 },
		[F_CONFIRM] = { .name = "confirm" },
	};
	struct hf_buf rules = {0};
	const char *user, *r, *p;
	size_t i;
	int rc;

	rc = walk_map(c, map, at, "'acl'", f, F_N);
	if (rc)
		return rc;
	user = scalar(c, f[F_USER].val, f[F_USER].pos, "user", "a user name");
	if (!user)
		return HF_EINVAL;
	for (p = user; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-.@", *p))
			break;
	if (!*user || *p)
		return fail(c, node_pos(c, f[F_USER].val, f[F_USER].pos),
			    "invalid user name '%s' (expected letters, digits and _-.@)", user);
	for (i = 0; i < m->nchanges; i++)
		if (&m->changes[i] != ch && m->changes[i].acl_user && !strcmp(m->changes[i].acl_user, user))
			return fail(c, f[F_USER].pos, "duplicate acl user '%s'", user);
	r = scalar(c, f[F_RULES].val, f[F_RULES].pos, "rules", "a string of ACL rules");
	if (!r)
		return HF_EINVAL;
	if (!*r)
		return fail(c, node_pos(c, f[F_RULES].val, f[F_RULES].pos), "'rules' must not be empty");
	if (f[F_CONFIRM].seen && (rc = parse_bool(c, &f[F_CONFIRM], &ch->confirm)))
		return rc;
	for (p = r; *p;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t");
		if (rules.len)
			hf_buf_puts(&rules, " ");
		if ((*p == '>' || *p == '<') && n > 1) {
			char hash[65], *secret = hf_xstrndup(p, n), *hashed;

			hf_sha256_hex(secret + 1, n - 1, hash);
			hashed = hf_xasprintf("%c%s", *p == '>' ? '#' : '!', hash);
			hf_buf_puts(&rules, hashed);
			if (!m->journal_text)
				m->journal_text = hf_xstrdup(m->text);
			/* The journal keeps the text with the secret hashed; a secret
			 * the text does not spell out plainly (a YAML escape, a line
			 * fold) could not be hidden there, so it is refused. */
			if (!replace_tokens(&m->journal_text, secret, hashed) &&
			    !strstr(m->journal_text, hashed)) {
				free(hashed);
				free(secret);
				hf_buf_release(&rules);
				return fail(c, node_pos(c, f[F_RULES].val, f[F_RULES].pos),
					    "write each ACL password plainly in 'rules', as one token on "
					    "one line, with no YAML escapes (it is hashed before anything "
					    "is stored)");
			}
			free(hashed);
			free(secret);
		} else {
			hf_buf_append(&rules, p, n);
		}
		p += n;
	}
	ch->acl_user = hf_xstrdup(user);
	ch->acl_rules = hf_buf_detach(&rules);
	return 0;
}

/* The body of a "binary" change: the server binary every node is restarted
 * on, and how. Without 'restart' the nodes must be local, and hotfix stops
 * and starts them itself; the binary must then exist here. */
static int parse_binary(struct pctx *c, struct fy_node *map, struct hf_pos at,
			struct hf_change *ch, struct hf_manifest *m)
{
	enum { F_PATH, F_RESTART, F_BUILD, F_TIMEOUT, F_CONFIRM, F_N };
	struct field f[F_N] = {
		[F_PATH] = { .name = "path", .required = 1 },
		[F_RESTART] = { .name = "restart" },
		[F_BUILD] = { .name = "build" },
		[F_TIMEOUT] = { .name = "timeout" },
		[F_CONFIRM] = { .name = "confirm" },
	};
	const char *path, *p;
	int rc;

	rc = walk_map(c, map, at, "'binary'", f, F_N);
	if (rc)
		return rc;
	if (m->nchanges > 1)
		return fail(c, at, "a binary change must be the only change of its manifest "
			    "(a restart would drop runtime changes made alongside it)");
	path = scalar(c, f[F_PATH].val, f[F_PATH].pos, "path", "the path of a server binary");
	if (!path)
		return HF_EINVAL;
	if (!*path)
		return fail(c, node_pos(c, f[F_PATH].val, f[F_PATH].pos), "'path' must not be empty");
	ch->bin_path = manifest_relative(c, path);
	if (f[F_RESTART].seen) {
		rc = parse_text(c, &f[F_RESTART], &ch->bin_restart);
		if (rc)
			return rc;
		if (!strstr(ch->bin_restart, "{port}"))
			return fail(c, node_pos(c, f[F_RESTART].val, f[F_RESTART].pos),
				    "'restart' must name the node, with {port} (and {host}, "
				    "{binary}, {id} as needed)");
		for (p = ch->bin_restart; (p = strchr(p, '{')); p++)
			if (strncmp(p, "{host}", 6) && strncmp(p, "{port}", 6) &&
			    strncmp(p, "{binary}", 8) && strncmp(p, "{id}", 4))
				return fail(c, node_pos(c, f[F_RESTART].val, f[F_RESTART].pos),
					    "unknown placeholder '%.*s' in 'restart' (expected "
					    "{host}, {port}, {binary} or {id})",
					    (int)strcspn(p, "} ") + 1, p);
	}
	if (f[F_BUILD].seen) {
		rc = parse_text(c, &f[F_BUILD], &ch->bin_build);
		if (rc)
			return rc;
		for (p = ch->bin_build; *p && isxdigit((unsigned char)*p); p++)
			;
		if (*p || strlen(ch->bin_build) > 40)
			return fail(c, node_pos(c, f[F_BUILD].val, f[F_BUILD].pos),
				    "invalid build '%s' (expected the hex id that INFO server "
				    "reports as redis_build_id)", ch->bin_build);
	}
	ch->bin_timeout_ms = 60000;
	if (f[F_TIMEOUT].seen && (rc = parse_duration(c, &f[F_TIMEOUT], 1, &ch->bin_timeout_ms)))
		return rc;
	if (f[F_CONFIRM].seen && (rc = parse_bool(c, &f[F_CONFIRM], &ch->confirm)))
		return rc;
	if (!ch->bin_restart || !ch->bin_build) {
		struct stat st;
		const char *why = NULL;

		if (stat(ch->bin_path, &st))
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		else if (access(ch->bin_path, X_OK))
			why = strerror(errno);
		if (why)
			return fail(c, node_pos(c, f[F_PATH].val, f[F_PATH].pos),
				    "cannot run server binary '%s': %s", ch->bin_path, why);
	}
	return 0;
}

/* The types a data change may select, as Redis' TYPE names them. */
static const char *const data_types[] = {
	"string", "hash", "list", "set", "zset", "stream",
};

#define DATA_BATCH_DEFAULT	200
#define DATA_BATCH_MAX		10000

/* The name of a hash field, scalar 'n' of field 'what': not empty. */
static const char *hash_field(struct pctx *c, struct fy_node *n, struct hf_pos at,
			      const char *what)
{
	const char *s = scalar(c, n, at, what, "a hash field name");

	if (s && !*s) {
		fail(c, node_pos(c, n, at), "'%s' must not be empty", what);
		return NULL;
	}
	return s;
}

struct key_line {
	const char *key;
	size_t line;
};

static int key_line_cmp(const void *a, const void *b)
{
	const struct key_line *x = a, *y = b;
	int d = strcmp(x->key, y->key);

	if (d)
		return d;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* 'keys_file' of a data change: the file is read now, one key per line
 * (a final '\r' dropped), empty lines (or only blanks) and lines starting
 * with '#' skipped; a key keeps its blanks, which are part of its name.
 * A key listed twice is refused: the repair records each key's
 * before-state once, and a second pass would record the repaired value. */
static int parse_keys_file(struct pctx *c, struct field *f, struct hf_change *ch)
{
	struct hf_pos pos = node_pos(c, f->val, f->pos);
	const char *file, *p, *end, *nl;
	struct key_line *lines = NULL;
	size_t len = 0, n, line = 0, cap = 0, i;
	char *buf = NULL;
	int rc;

	file = scalar(c, f->val, f->pos, "keys_file", "a file name");
	if (!file)
		return HF_EINVAL;
	if (!*file)
		return fail(c, pos, "'keys_file' must not be empty");
	rc = read_relative(c, file, pos, "keys file", &buf, &len);
	if (rc)
		return rc;
	ch->keys_file = hf_xstrdup(file);
	for (p = buf, end = buf + len; p < end; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		if (n && p[n - 1] == '\r')
			n--;
		if (n == strspn(p, " \t") || p[0] == '#')
			continue;
		if (memchr(p, '\0', n)) {
			rc = fail(c, pos, "keys file '%s': line %zu contains a nul character",
				  file, line);
			goto out;
		}
		if (ch->nkeys == cap) {
			cap = cap ? cap * 2 : 64;
			ch->keys = hf_xrealloc(ch->keys, cap * sizeof(*ch->keys));
			lines = hf_xrealloc(lines, cap * sizeof(*lines));
		}
		lines[ch->nkeys].line = line;
		ch->keys[ch->nkeys++] = hf_xstrndup(p, n);
	}
	if (!ch->nkeys) {
		rc = fail(c, pos, "keys file '%s' holds no key (one key per line; empty "
			  "lines and lines starting with '#' are skipped)", file);
		goto out;
	}
	for (i = 0; i < ch->nkeys; i++)
		lines[i].key = ch->keys[i];
	qsort(lines, ch->nkeys, sizeof(*lines), key_line_cmp);
	for (i = 1; i < ch->nkeys; i++)
		if (!strcmp(lines[i - 1].key, lines[i].key)) {
			rc = fail(c, pos, "keys file '%s': key '%s' is listed twice (lines "
				  "%zu and %zu)", file, lines[i].key, lines[i - 1].line,
				  lines[i].line);
			goto out;
		}
out:
	free(lines);
	free(buf);
	return rc;
}

/* 'where' of a data change: {field: F, equals: V} tests a hash field,
 * {equals: V} a string's value. 'equals' keeps the scalar's text. */
static int parse_where(struct pctx *c, struct field *parent, struct hf_change *ch,
		       struct hf_pos *field_pos)
{
	enum { F_FIELD, F_EQUALS, F_N };
	struct field f[F_N] = {
		[F_FIELD] = { .name = "field" },
		[F_EQUALS] = { .name = "equals", .required = 1 },
	};
	const char *s;
	int rc;

	rc = walk_map(c, parent->val, parent->pos, "'where'", f, F_N);
	if (rc)
		return rc;
	if (f[F_FIELD].seen) {
		s = hash_field(c, f[F_FIELD].val, f[F_FIELD].pos, "field");
		if (!s)
			return HF_EINVAL;
		ch->where_field = hf_xstrdup(s);
		*field_pos = f[F_FIELD].pos;
	}
	s = scalar(c, f[F_EQUALS].val, f[F_EQUALS].pos, "equals",
		   "a value (\"\" for an empty string)");
	if (!s)
		return HF_EINVAL;
	ch->where_equals = hf_xstrdup(s);
	return 0;
}

/* 'set' of a data change: hash field -> new value. Values keep the
 * scalar's text: unlike a config parameter, a hash field has no notion of
 * a boolean, so "true" stays "true". */
static int parse_data_set(struct pctx *c, struct field *parent, struct hf_change *ch)
{
	struct fy_node *map = parent->val;
	struct hf_pos mpos = node_pos(c, map, parent->pos);
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t i = 0;

	if (is_alias(map))
		return fail(c, mpos, "yaml aliases are not supported ('set')");
	if (is_null(map) || !fy_node_is_mapping(map))
		return fail(c, mpos, "'set' must be a mapping of hash fields to values");
	if (fy_node_mapping_is_empty(map))
		return fail(c, mpos, "'set' must not be empty");

	ch->ndata_set = (size_t)fy_node_mapping_item_count(map);
	ch->data_set = hf_xcalloc(ch->ndata_set, sizeof(*ch->data_set));
	while ((pair = fy_node_mapping_iterate(map, &it)) && i < ch->ndata_set) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct fy_node *val = fy_node_pair_value(pair);
		struct hf_param *p = &ch->data_set[i++];
		struct hf_pos kpos = node_pos(c, key, mpos);
		const char *name, *value;

		if (!key || is_alias(key) || is_null(key) || !fy_node_is_scalar(key) ||
		    !(name = fy_node_get_scalar0(key)) || !*name ||
		    strlen(name) != fy_node_get_scalar_length(key))
			return fail(c, kpos, "invalid hash field name in 'set'");
		if (is_alias(val))
			return fail(c, node_pos(c, val, kpos),
				    "yaml aliases are not supported ('%s')", name);
		if (is_null(val))
			return fail(c, node_pos(c, val, kpos), "field '%s' in 'set' has no "
				    "value (write \"\" for an empty string)", name);
		if (!fy_node_is_scalar(val))
			return fail(c, node_pos(c, val, kpos),
				    "field '%s' in 'set' must have a single value, not a %s",
				    name, fy_node_is_mapping(val) ? "mapping" : "list");
		value = scalar(c, val, kpos, name, "a value");
		if (!value)
			return HF_EINVAL;
		p->name = hf_xstrdup(name);
		p->value = hf_xstrdup(value);
		p->pos = kpos;
	}
	return 0;
}

static const struct hf_param *find_set(const struct hf_change *ch, const char *name)
{
	size_t i;

	for (i = 0; i < ch->ndata_set; i++)
		if (ch->data_set[i].name && !strcmp(ch->data_set[i].name, name))
			return &ch->data_set[i];
	return NULL;
}

static int find_unset(const struct hf_change *ch, const char *name)
{
	size_t i;

	for (i = 0; i < ch->ndata_unset; i++)
		if (ch->data_unset[i] && !strcmp(ch->data_unset[i], name))
			return 1;
	return 0;
}

/* 'unset' of a data change: a list of hash fields, none twice and none
 * also in 'set' (already parsed). */
static int parse_data_unset(struct pctx *c, struct field *parent, struct hf_change *ch)
{
	struct fy_node *seq = parent->val;
	struct hf_pos spos = node_pos(c, seq, parent->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n, i = 0;

	if (is_alias(seq))
		return fail(c, spos, "yaml aliases are not supported ('unset')");
	if (is_null(seq) || !fy_node_is_sequence(seq))
		return fail(c, spos, "'unset' must be a list of hash fields");
	if (fy_node_sequence_is_empty(seq))
		return fail(c, spos, "'unset' must not be empty");

	n = (size_t)fy_node_sequence_item_count(seq);
	ch->data_unset = hf_xcalloc(n, sizeof(*ch->data_unset));
	while ((item = fy_node_sequence_iterate(seq, &it)) && i < n) {
		struct hf_pos ipos = node_pos(c, item, spos);
		const char *s = hash_field(c, item, spos, "unset");

		if (!s)
			return HF_EINVAL;
		if (find_unset(ch, s))
			return fail(c, ipos, "duplicate field '%s' in 'unset'", s);
		if (find_set(ch, s))
			return fail(c, ipos, "field '%s' is both in 'set' and in 'unset'", s);
		ch->data_unset[i++] = hf_xstrdup(s);
		ch->ndata_unset = i;
	}
	return 0;
}

/* 'rename' of a data change: {from: F, to: G}, two different hash fields,
 * neither of them also in 'set' or 'unset' (already parsed). */
static int parse_rename(struct pctx *c, struct field *parent, struct hf_change *ch)
{
	enum { F_FROM, F_TO, F_N };
	struct field f[F_N] = {
		[F_FROM] = { .name = "from", .required = 1 },
		[F_TO] = { .name = "to", .required = 1 },
	};
	const char *name[F_N];
	struct hf_pos pos;
	int rc, k;

	rc = walk_map(c, parent->val, parent->pos, "'rename'", f, F_N);
	if (rc)
		return rc;
	for (k = 0; k < F_N; k++) {
		name[k] = hash_field(c, f[k].val, f[k].pos, f[k].name);
		if (!name[k])
			return HF_EINVAL;
		pos = node_pos(c, f[k].val, f[k].pos);
		if (find_set(ch, name[k]))
			return fail(c, pos, "renamed field '%s' is also in 'set'", name[k]);
		if (find_unset(ch, name[k]))
			return fail(c, pos, "renamed field '%s' is also in 'unset'", name[k]);
	}
	if (!strcmp(name[F_FROM], name[F_TO]))
		return fail(c, node_pos(c, f[F_TO].val, f[F_TO].pos),
			    "'rename' has the same field '%s' in 'from' and 'to'", name[F_TO]);
	ch->rename_from = hf_xstrdup(name[F_FROM]);
	ch->rename_to = hf_xstrdup(name[F_TO]);
	return 0;
}

/* 'lua' of a data change: a file relative to the manifest, read now, the
 * body of a Lua function of 'key'. Its SHA-256 ties a resumed run to the
 * same code. */
static int parse_lua(struct pctx *c, struct field *f, struct hf_change *ch)
{
	struct hf_pos pos = node_pos(c, f->val, f->pos);
	const char *file = scalar(c, f->val, f->pos, "lua", "a file name");
	char *code = NULL;
	size_t len = 0;
	int rc;

	if (!file)
		return HF_EINVAL;
	if (!*file)
		return fail(c, pos, "'lua' must not be empty");
	rc = read_relative(c, file, pos, "lua file", &code, &len);
	if (rc)
		return rc;
	if (strlen(code) != len)
		rc = fail(c, pos, "lua file '%s' contains a nul character", file);
	else if (is_blank(code))
		rc = fail(c, pos, "lua file '%s' is empty", file);
	if (rc) {
		free(code);
		return rc;
	}
	ch->lua_file = hf_xstrdup(file);
	ch->lua_code = code;
	hf_sha256_hex(code, len, ch->lua_sha256);
	return 0;
}

/* Of two fields of one mapping, the one written last: an error about a
 * pair that does not go together is reported where the pair is complete. */
static const struct field *later(const struct field *a, const struct field *b)
{
	if (a->pos.line != b->pos.line)
		return a->pos.line > b->pos.line ? a : b;
	return a->pos.col > b->pos.col ? a : b;
}

/* The body of a "data" change: a repair of the keys that 'match' (a SCAN
 * pattern) or 'keys_file' selects, optionally only those of one 'type' and
 * those 'where' a hash field or a string's value equals a value.
 *
 * The operations: hash ones (set, unset, rename), the string one (value),
 * and ttl or persist, which fit any type; 'delete: true' and 'lua' stand
 * alone. A hash operation without 'type' implies type hash, 'value' type
 * string, and so does a 'where' on a string's value. */
static int parse_data(struct pctx *c, struct fy_node *map, struct hf_pos at,
		      struct hf_change *ch, struct hf_manifest *m)
{
	enum {
		F_MATCH, F_KEYS_FILE, F_TYPE, F_WHERE, F_BATCH,
		F_SET, F_VALUE, F_UNSET, F_RENAME, F_TTL, F_PERSIST, F_DELETE, F_LUA,
		F_N
	};
	struct field f[F_N] = {
		[F_MATCH] = { .name = "match" },
		[F_KEYS_FILE] = { .name = "keys_file" },
		[F_TYPE] = { .name = "type" },
		[F_WHERE] = { .name = "where" },
		[F_BATCH] = { .name = "batch" },
		[F_SET] = { .name = "set" },
		[F_VALUE] = { .name = "value" },
		[F_UNSET] = { .name = "unset" },
		[F_RENAME] = { .name = "rename" },
		[F_TTL] = { .name = "ttl" },
		[F_PERSIST] = { .name = "persist" },
		[F_DELETE] = { .name = "delete" },
		[F_LUA] = { .name = "lua" },
	};
	const struct field *hash_op = NULL, *why = NULL;
	const char *type = NULL, *implied = NULL, *s;
	struct hf_pos where_field_pos = { 0, 0 };
	int on[F_N] = { 0 };
	int rc, k, nops = 0;
	size_t i;

	(void)m;
	rc = walk_map(c, map, at, "'data'", f, F_N);
	if (rc)
		return rc;

	if (f[F_MATCH].seen && f[F_KEYS_FILE].seen)
		return fail(c, later(&f[F_MATCH], &f[F_KEYS_FILE])->pos,
			    "'match' and 'keys_file' exclude each other (a data change "
			    "selects its keys by one of them)");
	if (!f[F_MATCH].seen && !f[F_KEYS_FILE].seen)
		return fail(c, at, "a data change needs 'match' (a SCAN pattern) or "
			    "'keys_file' (a file of keys, one per line)");
	if (f[F_MATCH].seen && (rc = parse_text(c, &f[F_MATCH], &ch->data_match)))
		return rc;
	if (f[F_KEYS_FILE].seen && (rc = parse_keys_file(c, &f[F_KEYS_FILE], ch)))
		return rc;

	if (f[F_TYPE].seen) {
		type = scalar(c, f[F_TYPE].val, f[F_TYPE].pos, "type", "a Redis type");
		if (!type)
			return HF_EINVAL;
		for (i = 0; i < ARRAY_SIZE(data_types); i++)
			if (!strcmp(type, data_types[i]))
				break;
		if (i == ARRAY_SIZE(data_types))
			return fail(c, node_pos(c, f[F_TYPE].val, f[F_TYPE].pos),
				    "invalid type '%s' (expected string, hash, list, set, "
				    "zset or stream)", type);
	}
	if (f[F_WHERE].seen && (rc = parse_where(c, &f[F_WHERE], ch, &where_field_pos)))
		return rc;
	ch->batch = DATA_BATCH_DEFAULT;
	if (f[F_BATCH].seen) {
		s = scalar(c, f[F_BATCH].val, f[F_BATCH].pos, "batch",
			   "an integer from 1 to 10000");
		if (!s)
			return HF_EINVAL;
		if (parse_positive(s, &ch->batch) || ch->batch > DATA_BATCH_MAX)
			return fail(c, node_pos(c, f[F_BATCH].val, f[F_BATCH].pos),
				    "invalid batch '%s' (expected an integer from 1 to %d)",
				    s, DATA_BATCH_MAX);
	}

	/* 'unset' and 'rename' are checked against what comes before them. */
	if (f[F_SET].seen && (rc = parse_data_set(c, &f[F_SET], ch)))
		return rc;
	if (f[F_UNSET].seen && (rc = parse_data_unset(c, &f[F_UNSET], ch)))
		return rc;
	if (f[F_RENAME].seen && (rc = parse_rename(c, &f[F_RENAME], ch)))
		return rc;
	if (f[F_VALUE].seen) {
		s = scalar(c, f[F_VALUE].val, f[F_VALUE].pos, "value",
			   "a string (\"\" for an empty one)");
		if (!s)
			return HF_EINVAL;
		ch->data_value = hf_xstrdup(s);
	}
	if (f[F_TTL].seen && (rc = parse_duration(c, &f[F_TTL], 1, &ch->data_ttl_ms)))
		return rc;
	if (f[F_PERSIST].seen && (rc = parse_bool(c, &f[F_PERSIST], &ch->data_persist)))
		return rc;
	if (f[F_DELETE].seen && (rc = parse_bool(c, &f[F_DELETE], &ch->data_delete)))
		return rc;
	if (f[F_LUA].seen && (rc = parse_lua(c, &f[F_LUA], ch)))
		return rc;

	/* Which operations there are: "persist: false" and "delete: false"
	 * say what is not done, as if absent. */
	for (k = F_SET; k <= F_LUA; k++) {
		on[k] = k == F_PERSIST ? ch->data_persist :
			k == F_DELETE ? ch->data_delete : f[k].seen;
		nops += on[k];
	}
	if (!nops)
		return fail(c, at, "a data change needs an operation (set, value, unset, "
			    "rename, ttl, persist: true, delete: true or lua)");
	for (k = F_SET; k <= F_LUA; k++)
		if (k != F_DELETE && on[k] && on[F_DELETE])
			return fail(c, later(&f[k], &f[F_DELETE])->pos, "'delete: true' "
				    "excludes every other operation (found '%s')", f[k].name);
	for (k = F_SET; k <= F_LUA; k++)
		if (k != F_LUA && on[k] && on[F_LUA])
			return fail(c, later(&f[k], &f[F_LUA])->pos, "'lua' excludes every "
				    "other operation: the script does the whole repair "
				    "(found '%s')", f[k].name);
	if (on[F_TTL] && on[F_PERSIST])
		return fail(c, later(&f[F_TTL], &f[F_PERSIST])->pos,
			    "'ttl' and 'persist: true' exclude each other");
	for (k = F_SET; k <= F_RENAME && !hash_op; k++)
		if (k != F_VALUE && on[k])
			hash_op = &f[k];
	if (hash_op && on[F_VALUE])
		return fail(c, later(hash_op, &f[F_VALUE])->pos, "'value' sets a string "
			    "and '%s' edits a hash: they cannot be combined", hash_op->name);

	/* The type: given, or implied by the operations, or by 'where'. */
	if (hash_op) {
		implied = "hash";
		why = hash_op;
	} else if (on[F_VALUE]) {
		implied = "string";
		why = &f[F_VALUE];
	}
	if (type && implied && strcmp(type, implied))
		return fail(c, node_pos(c, f[F_TYPE].val, f[F_TYPE].pos),
			    "type '%s' does not fit '%s', which %s (expected type %s, "
			    "or no type)", type, why->name,
			    hash_op ? "edits a hash" : "sets a string", implied);
	if (type || implied)
		ch->data_type = hf_xstrdup(type ? type : implied);
	if (ch->where_field && (!ch->data_type || strcmp(ch->data_type, "hash"))) {
		if (!ch->data_type)
			return fail(c, where_field_pos, "'where' tests hash field '%s': add "
				    "'type: hash'", ch->where_field);
		return fail(c, where_field_pos, "'where' tests hash field '%s', but the "
			    "keys are of type %s%s%s%s", ch->where_field, ch->data_type,
			    type ? "" : " (implied by '", type ? "" : why->name,
			    type ? "" : "')");
	}
	if (f[F_WHERE].seen && !ch->where_field) {
		if (!ch->data_type)
			ch->data_type = hf_xstrdup("string");
		else if (strcmp(ch->data_type, "string"))
			return fail(c, f[F_WHERE].pos, "'where' without 'field' tests a "
				    "string's value, but the keys are of type %s%s%s%s (add "
				    "'field' to test a hash field)", ch->data_type,
				    type ? "" : " (implied by '", type ? "" : why->name,
				    type ? "" : "')");
	}
	return 0;
}

/* The change kinds this build parses, by the name a manifest gives them. */
static const struct {
	const char *name;
	enum hf_kind_id id;
	int (*parse)(struct pctx *c, struct fy_node *map, struct hf_pos at,
		     struct hf_change *ch, struct hf_manifest *m);
} kind_parsers[] = {
	{ "config", HF_KIND_CONFIG, parse_config },
	{ "function", HF_KIND_FUNCTION, parse_function },
	{ "acl", HF_KIND_ACL, parse_acl },
	{ "binary", HF_KIND_BINARY, parse_binary },
	{ "data", HF_KIND_DATA, parse_data },
};

/* The list under spec.changes: each item a mapping with exactly one key,
 * the kind of the change. */
static int parse_changes(struct pctx *c, struct field *parent,
			 struct hf_manifest *m)
{
	struct fy_node *seq = parent->val;
	struct hf_pos spos = node_pos(c, seq, parent->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t i = 0, k;
	int rc;

	if (is_alias(seq))
		return fail(c, spos, "yaml aliases are not supported ('changes')");
	if (is_null(seq) || !fy_node_is_sequence(seq))
		return fail(c, spos, "'changes' must be a list of changes");
	if (fy_node_sequence_is_empty(seq))
		return fail(c, spos, "'changes' must not be empty");

	m->nchanges = (size_t)fy_node_sequence_item_count(seq);
	m->changes = hf_xcalloc(m->nchanges, sizeof(*m->changes));
	while ((item = fy_node_sequence_iterate(seq, &it)) && i < m->nchanges) {
		struct hf_change *ch = &m->changes[i++];
		struct hf_pos ipos = node_pos(c, item, spos);
		struct fy_node_pair *pair;
		struct fy_node *key;
		void *pit = NULL;
		const char *kind;

		if (is_alias(item) || is_null(item) || !fy_node_is_mapping(item) ||
		    fy_node_mapping_is_empty(item))
			return fail(c, ipos, "change %zu must be a mapping with one key, "
				    "the change kind (e.g. 'config')", i);
		if (fy_node_mapping_item_count(item) > 1) {
			fy_node_mapping_iterate(item, &pit);
			pair = fy_node_mapping_iterate(item, &pit);
			return fail(c, node_pos(c, fy_node_pair_key(pair), ipos),
				    "change %zu has more than one key; write each change "
				    "kind as its own list item", i);
		}
		pair = fy_node_mapping_iterate(item, &pit);
		key = fy_node_pair_key(pair);
		ch->pos = node_pos(c, key, ipos);
		if (!key || is_alias(key) || !fy_node_is_scalar(key) ||
		    !(kind = fy_node_get_scalar0(key)))
			return fail(c, ch->pos, "invalid change kind in change %zu", i);

		for (k = 0; k < ARRAY_SIZE(kind_parsers); k++)
			if (!strcmp(kind, kind_parsers[k].name))
				break;
		if (k < ARRAY_SIZE(kind_parsers)) {
			ch->kind = kind_parsers[k].id;
			/* A data change rolls out over keys, the others over nodes:
			 * one manifest cannot do both. */
			if (i > 1 && (ch->kind == HF_KIND_DATA) !=
				     (m->changes[0].kind == HF_KIND_DATA))
				return fail(c, ch->pos, "a data change cannot share its "
					    "manifest with other kinds of change");
			rc = kind_parsers[k].parse(c, fy_node_pair_value(pair), ch->pos,
						   ch, m);
			if (rc)
				return rc;
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(unsupported_kinds); k++)
			if (!strcmp(kind, unsupported_kinds[k]))
				return fail(c, ch->pos, "change kind '%s' is not "
					    "supported by this build yet", kind);
		return fail(c, ch->pos, "unknown change kind '%s' (expected config, "
			    "function, acl, data, binary, flag or exec)", kind);
	}
	return 0;
}

static int is_data(const struct hf_manifest *m)
{
	return m->nchanges && m->changes[0].kind == HF_KIND_DATA;
}

/* One node, then all of them; for a data change 1% of the keys, then all. */
static void default_waves(struct hf_manifest *m)
{
	m->nwaves = 2;
	m->waves = hf_xcalloc(m->nwaves, sizeof(*m->waves));
	if (is_data(m)) {
		m->waves[0].keys = 1;
		m->waves[0].is_percent = 1;
		m->waves[0].percent = 1;
		m->waves[1].keys = 1;
	} else {
		m->waves[0].count = 1;
	}
	m->waves[0].bake_ms = 10000;
	m->waves[1].is_percent = 1;
	m->waves[1].percent = 100;
	m->waves[1].bake_ms = 0;
}

/* "keys: N%" of wave 'idx': a share of a data change's keys. 'prev_keys'
 * is the index of the last such wave before it, 0 for none. */
static int parse_wave_keys(struct pctx *c, struct field *f, size_t idx,
			   struct hf_manifest *m, size_t *prev_keys)
{
	struct hf_wave_spec *w = &m->waves[idx - 1];
	struct hf_pos pos = node_pos(c, f->val, f->pos);
	const char *s = scalar(c, f->val, f->pos, "keys", "a percentage like 10%");
	double pct;

	if (!s)
		return HF_EINVAL;
	if (parse_percent(s, &pct) || pct <= 0 || pct > 100)
		return fail(c, pos, "invalid keys '%s' in wave %zu (expected a percentage "
			    "of the keys, above 0%% and at most 100%%)", s, idx);
	w->keys = 1;
	w->is_percent = 1;
	w->percent = pct;
	if (*prev_keys && pct <= m->waves[*prev_keys - 1].percent)
		return fail(c, pos, "wave %zu (%s) must be larger than wave %zu (%g%%)",
			    idx, s, *prev_keys, m->waves[*prev_keys - 1].percent);
	*prev_keys = idx;
	return 0;
}

/* One item of rollout.waves. 'prev_pct', 'prev_count' and 'prev_keys' are
 * the indexes (1-based, 0 for none) of the last percentage, count and keys
 * waves before it: waves only grow, but counts and percentages are not
 * comparable before a topology is known, so each kind is compared with its
 * own. Whether 'keys' or 'nodes' fits the changes is checked by
 * check_data_rollout(). */
static int parse_wave(struct pctx *c, struct fy_node *item, struct hf_pos at,
		      size_t idx, struct hf_manifest *m,
		      size_t *prev_pct, size_t *prev_count, size_t *prev_keys)
{
	enum { F_NODES, F_KEYS, F_BAKE, F_N };
	struct field f[F_N] = {
		[F_NODES] = { .name = "nodes" },
		[F_KEYS] = { .name = "keys" },
		[F_BAKE] = { .name = "bake" },
	};
	struct hf_wave_spec *w = &m->waves[idx - 1];
	struct hf_pos npos;
	char where[32];
	double pct;
	const char *s;
	int rc;

	snprintf(where, sizeof(where), "wave %zu", idx);
	w->pos = node_pos(c, item, at);
	rc = walk_map(c, item, at, where, f, F_N);
	if (rc)
		return rc;
	if (f[F_NODES].seen && f[F_KEYS].seen)
		return fail(c, later(&f[F_NODES], &f[F_KEYS])->pos, "wave %zu has both "
			    "'nodes' and 'keys' (nodes for a change to servers, keys for a "
			    "data change)", idx);
	/* The message names the field the changes need; they are parsed first. */
	if (!f[F_NODES].seen && !f[F_KEYS].seen)
		return fail(c, w->pos, "missing required field '%s' in wave %zu",
			    is_data(m) ? "keys" : "nodes", idx);
	if (f[F_KEYS].seen) {
		rc = parse_wave_keys(c, &f[F_KEYS], idx, m, prev_keys);
		if (!rc && f[F_BAKE].seen)
			rc = parse_duration(c, &f[F_BAKE], 0, &w->bake_ms);
		return rc;
	}

	s = scalar(c, f[F_NODES].val, f[F_NODES].pos, "nodes",
		   "a count or a percentage");
	if (!s)
		return HF_EINVAL;
	npos = node_pos(c, f[F_NODES].val, f[F_NODES].pos);
	if (!parse_percent(s, &pct)) {
		if (pct <= 0 || pct > 100)
			return fail(c, npos, "invalid nodes '%s' in wave %zu "
				    "(a percentage must be above 0%% and at most 100%%)",
				    s, idx);
		w->is_percent = 1;
		w->percent = pct;
		if (*prev_pct && pct <= m->waves[*prev_pct - 1].percent)
			return fail(c, npos, "wave %zu (%s) must be larger than "
				    "wave %zu (%g%%)", idx, s, *prev_pct,
				    m->waves[*prev_pct - 1].percent);
		*prev_pct = idx;
	} else if (!parse_positive(s, &w->count)) {
		if (*prev_count && w->count <= m->waves[*prev_count - 1].count)
			return fail(c, npos, "wave %zu (%s) must be larger than "
				    "wave %zu (%ld)", idx, s, *prev_count,
				    m->waves[*prev_count - 1].count);
		*prev_count = idx;
	} else {
		return fail(c, npos, "invalid nodes '%s' in wave %zu (expected a "
			    "count of at least 1 or a percentage like 50%%)", s, idx);
	}

	if (f[F_BAKE].seen)
		return parse_duration(c, &f[F_BAKE], 0, &w->bake_ms);
	return 0;
}

static int parse_waves(struct pctx *c, struct field *parent,
		       struct hf_manifest *m)
{
	struct fy_node *seq = parent->val;
	struct hf_pos spos = node_pos(c, seq, parent->pos);
	size_t prev_pct = 0, prev_count = 0, prev_keys = 0;
	struct fy_node *item;
	void *it = NULL;
	size_t i = 0;
	int rc;

	if (is_alias(seq))
		return fail(c, spos, "yaml aliases are not supported ('waves')");
	if (is_null(seq) || !fy_node_is_sequence(seq))
		return fail(c, spos, "'waves' must be a list of waves");
	if (fy_node_sequence_is_empty(seq))
		return fail(c, spos, "'waves' must not be empty");

	m->nwaves = (size_t)fy_node_sequence_item_count(seq);
	m->waves = hf_xcalloc(m->nwaves, sizeof(*m->waves));
	while ((item = fy_node_sequence_iterate(seq, &it)) && i < m->nwaves) {
		rc = parse_wave(c, item, spos, ++i, m, &prev_pct, &prev_count,
				&prev_keys);
		if (rc)
			return rc;
	}
	return 0;
}

/* spec.rollout. '*order_pos' gets the position of 'order' when it is
 * given, and stays { 0, 0 } otherwise. */
static int parse_rollout(struct pctx *c, struct field *parent,
			 struct hf_manifest *m, struct hf_pos *order_pos)
{
	enum { F_ORDER, F_WAVES, F_N };
	struct field f[F_N] = {
		[F_ORDER] = { .name = "order" },
		[F_WAVES] = { .name = "waves" },
	};
	const char *s;
	int rc;

	rc = walk_map(c, parent->val, parent->pos, "'rollout'", f, F_N);
	if (rc)
		return rc;

	if (f[F_ORDER].seen) {
		*order_pos = f[F_ORDER].pos;
		s = scalar(c, f[F_ORDER].val, f[F_ORDER].pos, "order",
			   "replicas-first or primaries-first");
		if (!s)
			return HF_EINVAL;
		if (!strcmp(s, "replicas-first"))
			m->order = HF_ORDER_REPLICAS_FIRST;
		else if (!strcmp(s, "primaries-first"))
			m->order = HF_ORDER_PRIMARIES_FIRST;
		else
			return fail(c, node_pos(c, f[F_ORDER].val, f[F_ORDER].pos),
				    "invalid order '%s' (expected replicas-first or "
				    "primaries-first)", s);
	}
	if (f[F_WAVES].seen)
		return parse_waves(c, &f[F_WAVES], m);
	return 0;
}

static int is_ratio_metric(const char *metric)
{
	return !strcmp(metric, "error_rate") || !strcmp(metric, "memory_used_ratio");
}

/* One threshold of a check: 'max', 'min' or 'max_ratio_to_baseline'.
 *
 * Ratio metrics (error_rate, memory_used_ratio) take a fraction in [0, 1]
 * or a percentage, "1%" meaning 0.01; other metrics take a plain
 * non-negative number in their own unit. */
static int parse_threshold(struct pctx *c, struct field *f, const char *metric,
			   double *out)
{
	int is_ratio = !strcmp(f->name, "max_ratio_to_baseline");
	const char *s = scalar(c, f->val, f->pos, f->name, "a non-negative number");
	struct hf_pos pos = node_pos(c, f->val, f->pos);
	double v;

	if (!s)
		return HF_EINVAL;
	if (!parse_percent(s, &v)) {
		if (is_ratio || !is_ratio_metric(metric))
			return fail(c, pos, "'%s' of metric '%s' cannot be a percentage",
				    f->name, metric);
		if (v > 100)
			return fail(c, pos, "%s '%s' for metric '%s' is out of range "
				    "(expected 0%% to 100%%)", f->name, s, metric);
		*out = v / 100;
		return 0;
	}
	if (parse_number(s, &v))
		return fail(c, pos, "invalid %s '%s' for metric '%s' "
			    "(expected a non-negative number)", f->name, s, metric);
	if (is_ratio && v <= 0)
		return fail(c, pos, "'%s' must be greater than 0", f->name);
	if (!is_ratio && is_ratio_metric(metric) && v > 1)
		return fail(c, pos, "%s '%s' for metric '%s' is out of range "
			    "(expected 0 to 1, or a percentage like 1%%)", f->name, s,
			    metric);
	*out = v;
	return 0;
}

static int parse_check(struct pctx *c, struct fy_node *item, struct hf_pos at,
		       size_t idx, struct hf_check *ck)
{
	enum { F_METRIC, F_MAX, F_MIN, F_RATIO, F_N };
	struct field f[F_N] = {
		[F_METRIC] = { .name = "metric", .required = 1 },
		[F_MAX] = { .name = "max" },
		[F_MIN] = { .name = "min" },
		[F_RATIO] = { .name = "max_ratio_to_baseline" },
	};
	char where[32];
	const char *s;
	size_t i;
	int rc;

	snprintf(where, sizeof(where), "check %zu", idx);
	rc = walk_map(c, item, at, where, f, F_N);
	if (rc)
		return rc;

	ck->pos = f[F_METRIC].pos;
	s = scalar(c, f[F_METRIC].val, f[F_METRIC].pos, "metric", "a metric name");
	if (!s)
		return HF_EINVAL;
	for (i = 0; i < ARRAY_SIZE(metrics); i++)
		if (!strcmp(s, metrics[i]))
			break;
	if (i == ARRAY_SIZE(metrics)) {
		struct hf_buf list = { 0 };

		for (i = 0; i < ARRAY_SIZE(metrics); i++)
			hf_buf_printf(&list, "%s%s", i ? ", " : "", metrics[i]);
		rc = fail(c, node_pos(c, f[F_METRIC].val, f[F_METRIC].pos),
			  "unknown metric '%s' (expected one of %s)", s, list.s);
		hf_buf_release(&list);
		return rc;
	}
	ck->metric = hf_xstrdup(s);

	if (!f[F_MAX].seen && !f[F_MIN].seen && !f[F_RATIO].seen)
		return fail(c, ck->pos, "check %zu ('%s') has no threshold "
			    "(set max, min or max_ratio_to_baseline)", idx, ck->metric);
	if (f[F_MAX].seen) {
		rc = parse_threshold(c, &f[F_MAX], ck->metric, &ck->max);
		if (rc)
			return rc;
		ck->has_max = 1;
	}
	if (f[F_MIN].seen) {
		rc = parse_threshold(c, &f[F_MIN], ck->metric, &ck->min);
		if (rc)
			return rc;
		ck->has_min = 1;
	}
	if (f[F_RATIO].seen) {
		rc = parse_threshold(c, &f[F_RATIO], ck->metric, &ck->ratio);
		if (rc)
			return rc;
		ck->has_ratio = 1;
	}
	if (ck->has_max && ck->has_min && ck->min > ck->max)
		return fail(c, f[F_MIN].pos, "'min' is greater than 'max' in check %zu "
			    "('%s')", idx, ck->metric);
	return 0;
}

static int parse_checks(struct pctx *c, struct field *parent, struct hf_guard *g)
{
	struct fy_node *seq = parent->val;
	struct hf_pos spos = node_pos(c, seq, parent->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t i = 0;
	int rc;

	if (is_alias(seq))
		return fail(c, spos, "yaml aliases are not supported ('checks')");
	/* "checks:" with nothing after it is an empty list, which is allowed. */
	if (is_null(seq) || (fy_node_is_sequence(seq) && fy_node_sequence_is_empty(seq)))
		return 0;
	if (!fy_node_is_sequence(seq))
		return fail(c, spos, "'checks' must be a list of checks");

	g->nchecks = (size_t)fy_node_sequence_item_count(seq);
	g->checks = hf_xcalloc(g->nchecks, sizeof(*g->checks));
	while ((item = fy_node_sequence_iterate(seq, &it)) && i < g->nchecks) {
		rc = parse_check(c, item, spos, i + 1, &g->checks[i]);
		if (rc)
			return rc;
		i++;
	}
	return 0;
}

/* spec.guard: the word "none" (a deliberate choice, recorded as such) or a
 * mapping. Defaults are already in 'm->guard'. */
static int parse_guard(struct pctx *c, struct field *parent,
		       struct hf_manifest *m)
{
	enum { F_INTERVAL, F_BASELINE, F_LIMIT, F_UNOBS, F_CHECKS, F_N };
	struct field f[F_N] = {
		[F_INTERVAL] = { .name = "interval" },
		[F_BASELINE] = { .name = "baseline" },
		[F_LIMIT] = { .name = "failure_limit" },
		[F_UNOBS] = { .name = "on_unobservable" },
		[F_CHECKS] = { .name = "checks" },
	};
	struct hf_guard *g = &m->guard;
	struct fy_node *n = parent->val;
	const char *s;
	size_t i;
	int rc;

	g->pos = node_pos(c, n, parent->pos);
	if (is_plain(n) && !is_null(n) && !strcmp(fy_node_get_scalar0(n), "none")) {
		g->present = 1;
		g->none = 1;
		return 0;
	}
	if (is_null(n) || (!is_alias(n) && !fy_node_is_mapping(n)))
		return fail(c, g->pos, "'guard' must be a mapping or 'none'");
	rc = walk_map(c, n, parent->pos, "'guard'", f, F_N);
	if (rc)
		return rc;
	g->present = 1;

	if (f[F_INTERVAL].seen) {
		rc = parse_duration(c, &f[F_INTERVAL], 1, &g->interval_ms);
		if (rc)
			return rc;
	}
	if (f[F_BASELINE].seen) {
		rc = parse_duration(c, &f[F_BASELINE], 0, &g->baseline_ms);
		if (rc)
			return rc;
	}
	if (f[F_LIMIT].seen) {
		s = scalar(c, f[F_LIMIT].val, f[F_LIMIT].pos, "failure_limit",
			   "an integer of at least 1");
		if (!s)
			return HF_EINVAL;
		if (parse_positive(s, &g->failure_limit))
			return fail(c, node_pos(c, f[F_LIMIT].val, f[F_LIMIT].pos),
				    "invalid failure_limit '%s' (expected an integer "
				    "of at least 1)", s);
	}
	if (f[F_UNOBS].seen) {
		s = scalar(c, f[F_UNOBS].val, f[F_UNOBS].pos, "on_unobservable",
			   "hold or rollback");
		if (!s)
			return HF_EINVAL;
		if (!strcmp(s, "hold"))
			g->on_unobservable = HF_UNOBS_HOLD;
		else if (!strcmp(s, "rollback"))
			g->on_unobservable = HF_UNOBS_ROLLBACK;
		else
			return fail(c, node_pos(c, f[F_UNOBS].val, f[F_UNOBS].pos),
				    "invalid on_unobservable '%s' (expected hold or "
				    "rollback)", s);
	}
	if (f[F_CHECKS].seen) {
		rc = parse_checks(c, &f[F_CHECKS], g);
		if (rc)
			return rc;
	}

	/* A ratio to a baseline of zero length would compare against nothing. */
	for (i = 0; i < g->nchecks; i++)
		if (g->checks[i].has_ratio && g->baseline_ms == 0)
			return fail(c, g->checks[i].pos, "check %zu ('%s') uses "
				    "max_ratio_to_baseline but 'baseline' is 0", i + 1,
				    g->checks[i].metric);
	return 0;
}

/* A data change rolls out over shares of its keys, every other change over
 * nodes: the waves must say which, and 'order' (of replicas and primaries)
 * means nothing for keys. Run once changes and rollout are both parsed;
 * 'order_pos' is where 'order' was given, line 0 when it was not. */
static int check_data_rollout(struct pctx *c, const struct hf_manifest *m,
			      struct hf_pos order_pos)
{
	size_t i;

	if (is_data(m) && order_pos.line)
		return fail(c, order_pos, "'order' does not apply to a data change (its "
			    "waves are shares of the keys, not nodes); remove it");
	for (i = 0; i < m->nwaves; i++) {
		if (is_data(m) && !m->waves[i].keys)
			return fail(c, m->waves[i].pos, "wave %zu counts nodes, but a data "
				    "change rolls out over its keys: write 'keys: N%%'", i + 1);
		if (!is_data(m) && m->waves[i].keys)
			return fail(c, m->waves[i].pos, "'keys' waves are for data changes "
				    "(wave %zu): write 'nodes: N' or 'nodes: N%%'", i + 1);
	}
	return 0;
}

static int parse_spec(struct pctx *c, struct field *parent,
		      struct hf_manifest *m)
{
	enum { F_CHANGES, F_ROLLOUT, F_GUARD, F_SNAPSHOT, F_N };
	struct field f[F_N] = {
		[F_CHANGES] = { .name = "changes", .required = 1 },
		[F_ROLLOUT] = { .name = "rollout" },
		[F_GUARD] = { .name = "guard" },
		[F_SNAPSHOT] = { .name = "snapshot" },
	};
	struct hf_pos order_pos = { 0, 0 };
	int rc;

	rc = walk_map(c, parent->val, parent->pos, "'spec'", f, F_N);
	if (rc)
		return rc;
	if (f[F_SNAPSHOT].seen) {
		const char *v = scalar(c, f[F_SNAPSHOT].val, f[F_SNAPSHOT].pos, "snapshot",
				       "check or required");

		if (!v)
			return HF_EINVAL;
		if (strcmp(v, "check") && strcmp(v, "required"))
			return fail(c, node_pos(c, f[F_SNAPSHOT].val, f[F_SNAPSHOT].pos),
				    "invalid snapshot '%s' (expected check or required)", v);
		m->snapshot_required = !strcmp(v, "required");
	}
	rc = parse_changes(c, &f[F_CHANGES], m);
	if (!rc && f[F_ROLLOUT].seen)
		rc = parse_rollout(c, &f[F_ROLLOUT], m, &order_pos);
	if (!rc && f[F_GUARD].seen)
		rc = parse_guard(c, &f[F_GUARD], m);
	if (!rc && m->order == HF_ORDER_PRIMARIES_FIRST && m->changes[0].kind == HF_KIND_BINARY)
		rc = fail(c, m->changes[0].pos, "a binary change rolls out replicas first (a "
			  "primary is upgraded by failing over to an upgraded replica); remove "
			  "'order: primaries-first'");
	if (!rc)
		rc = check_data_rollout(c, m, order_pos);
	if (!rc && !m->nwaves)
		default_waves(m);
	return rc;
}

static int parse_root(struct pctx *c, struct fy_node *root,
		      struct hf_manifest *m)
{
	enum { F_API, F_KIND, F_META, F_SPEC, F_N };
	struct field f[F_N] = {
		[F_API] = { .name = "apiVersion", .required = 1 },
		[F_KIND] = { .name = "kind", .required = 1 },
		[F_META] = { .name = "metadata", .required = 1 },
		[F_SPEC] = { .name = "spec", .required = 1 },
	};
	struct hf_pos start = { 1, 1 };
	const char *s;
	int rc;

	if (is_null(root))
		return fail(c, start, "manifest is empty");
	if (!fy_node_is_mapping(root))
		return fail(c, start, "manifest must be a mapping (apiVersion, kind, "
			    "metadata, spec)");
	rc = walk_map(c, root, start, "the manifest", f, F_N);
	if (rc)
		return rc;

	s = scalar(c, f[F_API].val, f[F_API].pos, "apiVersion", "'hotfix/v1'");
	if (!s)
		return HF_EINVAL;
	if (strcmp(s, "hotfix/v1"))
		return fail(c, node_pos(c, f[F_API].val, f[F_API].pos),
			    "unsupported apiVersion '%s' (expected 'hotfix/v1')", s);
	s = scalar(c, f[F_KIND].val, f[F_KIND].pos, "kind", "'Hotfix'");
	if (!s)
		return HF_EINVAL;
	if (strcmp(s, "Hotfix"))
		return fail(c, node_pos(c, f[F_KIND].val, f[F_KIND].pos),
			    "unsupported kind '%s' (expected 'Hotfix')", s);

	rc = parse_metadata(c, &f[F_META], m);
	if (!rc)
		rc = parse_spec(c, &f[F_SPEC], m);
	return rc;
}

/* Turn the first error libfyaml collected into our message. Collected
 * errors carry 1-based positions; the token, when there is one, is more
 * precise and its mark is 0-based. */
static int yaml_error(struct pctx *c, struct fy_diag *diag)
{
	struct fy_diag_error *e;
	struct hf_pos pos = { 1, 1 };
	void *it = NULL;

	while ((e = fy_diag_errors_iterate(diag, &it)))
		if (e->type >= FYET_ERROR)
			break;
	if (!e)
		return fail(c, pos, "invalid yaml");
	if (e->fyt && fy_token_start_mark(e->fyt)) {
		pos = tok_pos(c, e->fyt);
	} else if (e->line > 0) {
		pos.line = e->line;
		pos.col = e->column > 0 ? e->column : 1;
	}
	if (e->msg && !strcmp(e->msg, "duplicate key") && e->fyt) {
		size_t len = 0;
		const char *key = fy_token_get_text(e->fyt, &len);

		if (key)
			return fail(c, pos, "duplicate key '%.*s'", (int)len, key);
	}
	return fail(c, pos, "invalid yaml: %s", e->msg ? e->msg : "syntax error");
}

/* libfyaml must never write to stderr: everything it says is either
 * collected as an error or dropped here. */
static void diag_discard(struct fy_diag *diag, void *user, const char *buf,
			 size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

/* Parse 'text' (NUL-terminated, 'len' bytes, owned by this call from now
 * on) into '*out'. */
static int parse_owned(const char *path, char *text, size_t len,
		       struct hf_manifest **out, struct hf_err *err)
{
	struct pctx c = { .path = path, .err = err, .text = text, .len = len };
	struct fy_document *doc = NULL, *extra = NULL;
	struct fy_parser *parser = NULL;
	struct fy_diag *diag = NULL;
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct hf_manifest *m;
	int rc = 0;

	m = hf_xcalloc(1, sizeof(*m));
	m->path = hf_xstrdup(path);
	m->text = text;
	m->textlen = len;
	hf_sha256_hex(text, len, m->sha256);
	m->order = HF_ORDER_REPLICAS_FIRST;
	m->guard.interval_ms = 1000;
	m->guard.baseline_ms = 10000;
	m->guard.failure_limit = 2;
	m->guard.on_unobservable = HF_UNOBS_HOLD;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag) {
		rc = hf_err_set(err, HF_ERR, "cannot create yaml diagnostics");
		goto out;
	}
	fy_diag_set_collect_errors(diag, true);

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE;
	pcfg.diag = diag;
	parser = fy_parser_create(&pcfg);
	if (!parser || fy_parser_set_string(parser, m->text, m->textlen)) {
		rc = hf_err_set(err, HF_ERR, "cannot create yaml parser");
		goto out;
	}

	doc = fy_parse_load_document(parser);
	if (fy_diag_got_error(diag)) {
		rc = yaml_error(&c, diag);
		goto out;
	}
	/* A second document would be silently ignored: refuse it instead. */
	if (doc) {
		extra = fy_parse_load_document(parser);
		if (fy_diag_got_error(diag)) {
			rc = yaml_error(&c, diag);
			goto out;
		}
		if (extra) {
			struct hf_pos one = { 1, 1 };

			rc = fail(&c, node_pos(&c, fy_document_root(extra), one),
				  "a manifest holds one yaml document, found a "
				  "second one");
			goto out;
		}
	}

	rc = parse_root(&c, doc ? fy_document_root(doc) : NULL, m);

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
	if (rc) {
		hf_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int hf_manifest_parse(const char *path, const char *text, size_t len,
		      struct hf_manifest **out, struct hf_err *err)
{
	char *copy = hf_xmalloc(len + 1);

	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';
	return parse_owned(path, copy, len, out, err);
}

int hf_manifest_load(const char *path, struct hf_manifest **out,
		     struct hf_err *err)
{
	struct hf_buf buf = { 0 };
	char chunk[8192];
	size_t len;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)   /* a manifest that is not there is bad input: exit 2 */
		return hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path,
				  strerror(errno));
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = hf_err_set(err, HF_EINVAL, "cannot read '%s': %s", path,
					strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf.len + (size_t)n > MANIFEST_MAX_BYTES) {
			rc = hf_err_set(err, HF_EINVAL, "cannot read '%s': larger "
					"than %d bytes", path, MANIFEST_MAX_BYTES);
			goto out;
		}
		hf_buf_append(&buf, chunk, (size_t)n);
	}
out:
	close(fd);
	if (rc) {
		hf_buf_release(&buf);
		return rc;
	}
	len = buf.len;
	return parse_owned(path, buf.s ? hf_buf_detach(&buf) : hf_xstrdup(""),
			   len, out, err);
}

void hf_manifest_free(struct hf_manifest *m)
{
	size_t i, j;

	if (!m)
		return;
	for (i = 0; i < m->nchanges; i++) {
		for (j = 0; j < m->changes[i].nparams; j++) {
			free(m->changes[i].params[j].name);
			free(m->changes[i].params[j].value);
		}
		free(m->changes[i].params);
		free(m->changes[i].library);
		free(m->changes[i].file);
		free(m->changes[i].code);
		free(m->changes[i].acl_user);
		free(m->changes[i].bin_path);
		free(m->changes[i].bin_restart);
		free(m->changes[i].bin_build);
		free(m->changes[i].acl_rules);
		free(m->changes[i].data_match);
		free(m->changes[i].keys_file);
		for (j = 0; j < m->changes[i].nkeys; j++)
			free(m->changes[i].keys[j]);
		free(m->changes[i].keys);
		free(m->changes[i].data_type);
		free(m->changes[i].where_field);
		free(m->changes[i].where_equals);
		for (j = 0; j < m->changes[i].ndata_set; j++) {
			free(m->changes[i].data_set[j].name);
			free(m->changes[i].data_set[j].value);
		}
		free(m->changes[i].data_set);
		free(m->changes[i].data_value);
		for (j = 0; j < m->changes[i].ndata_unset; j++)
			free(m->changes[i].data_unset[j]);
		free(m->changes[i].data_unset);
		free(m->changes[i].rename_from);
		free(m->changes[i].rename_to);
		free(m->changes[i].lua_file);
		free(m->changes[i].lua_code);
	}
	free(m->changes);
	for (i = 0; i < m->guard.nchecks; i++)
		free(m->guard.checks[i].metric);
	free(m->guard.checks);
	free(m->waves);
	free(m->name);
	free(m->owner);
	free(m->problem);
	free(m->text);
	free(m->journal_text);
	free(m->path);
	free(m);
}

const char *hf_order_name(enum hf_order o)
{
	switch (o) {
	case HF_ORDER_REPLICAS_FIRST:
		return "replicas-first";
	case HF_ORDER_PRIMARIES_FIRST:
		return "primaries-first";
	}
	return "unknown";
}
