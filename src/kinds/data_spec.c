/* The data kind's spec: parsing a data change's manifest entry (which keys,
 * what to do to them) and freeing it. The kind's operations are in data.c. */
#include "kinds/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"

/* The types a data change may select, as Redis' TYPE names them. */
static const char *const data_types[] = {
	"string", "hash", "list", "set", "zset", "stream", NULL,
};

#define DATA_BATCH_DEFAULT	200
#define DATA_BATCH_MAX		10000

/* The name of a hash field, scalar 'n' of field 'what': not empty. */
static const char *hash_field(struct hf_yaml *y, struct fy_node *n, struct hf_pos at,
			      const char *what)
{
	const char *s = hf_yaml_scalar(y, n, at, what, "a hash field name");

	if (s && !*s) {
		hf_yaml_fail(y, hf_yaml_pos(y, n, at), "'%s' must not be empty", what);
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
static int parse_keys_file(struct hf_yaml *y, struct hf_field *f, struct hf_data_spec *ds)
{
	struct hf_pos pos = hf_yaml_pos(y, f->val, f->pos);
	const char *file, *p, *end, *nl;
	struct key_line *lines = NULL;
	size_t len = 0, n, line = 0, cap = 0, i;
	char *buf = NULL;
	int rc;

	file = hf_yaml_scalar(y, f->val, f->pos, "keys_file", "a file name");
	if (!file)
		return HF_EINVAL;
	if (!*file)
		return hf_yaml_fail(y, pos, "'keys_file' must not be empty");
	rc = hf_yaml_read_file(y, file, pos, "keys file", &buf, &len);
	if (rc)
		return rc;
	ds->keys_file = hf_xstrdup(file);
	for (p = buf, end = buf + len; p < end; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		if (n && p[n - 1] == '\r')
			n--;
		if (n == strspn(p, " \t") || p[0] == '#')
			continue;
		if (memchr(p, '\0', n)) {
			rc = hf_yaml_fail(y, pos, "keys file '%s': line %zu contains a nul character",
				  file, line);
			goto out;
		}
		if (ds->nkeys == cap) {
			cap = cap ? cap * 2 : 64;
			ds->keys = hf_xrealloc(ds->keys, cap * sizeof(*ds->keys));
			lines = hf_xrealloc(lines, cap * sizeof(*lines));
		}
		lines[ds->nkeys].line = line;
		ds->keys[ds->nkeys++] = hf_xstrndup(p, n);
	}
	if (!ds->nkeys) {
		rc = hf_yaml_fail(y, pos, "keys file '%s' holds no key (one key per line; empty "
			  "lines and lines starting with '#' are skipped)", file);
		goto out;
	}
	for (i = 0; i < ds->nkeys; i++)
		lines[i].key = ds->keys[i];
	qsort(lines, ds->nkeys, sizeof(*lines), key_line_cmp);
	for (i = 1; i < ds->nkeys; i++)
		if (!strcmp(lines[i - 1].key, lines[i].key)) {
			rc = hf_yaml_fail(y, pos, "keys file '%s': key '%s' is listed twice (lines "
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
static int parse_where(struct hf_yaml *y, struct hf_field *parent, struct hf_data_spec *ds,
		       struct hf_pos *field_pos)
{
	enum { F_FIELD, F_EQUALS, F_N };
	struct hf_field f[F_N] = {
		[F_FIELD] = { .name = "field" },
		[F_EQUALS] = { .name = "equals", .required = 1 },
	};
	const char *s;
	int rc;

	rc = hf_yaml_walk(y, parent->val, parent->pos, "'where'", f, F_N);
	if (rc)
		return rc;
	if (f[F_FIELD].seen) {
		s = hash_field(y, f[F_FIELD].val, f[F_FIELD].pos, "field");
		if (!s)
			return HF_EINVAL;
		ds->where_field = hf_xstrdup(s);
		*field_pos = f[F_FIELD].pos;
	}
	s = hf_yaml_scalar(y, f[F_EQUALS].val, f[F_EQUALS].pos, "equals",
		   "a value (\"\" for an empty string)");
	if (!s)
		return HF_EINVAL;
	ds->where_equals = hf_xstrdup(s);
	return 0;
}

/* 'set' of a data change: hash field -> new value. Values keep the
 * scalar's text: unlike a config parameter, a hash field has no notion of
 * a boolean, so "true" stays "true". */
static int parse_data_set(struct hf_yaml *y, struct hf_field *parent, struct hf_data_spec *ds)
{
	struct fy_node *map = parent->val;
	struct hf_pos mpos = hf_yaml_pos(y, map, parent->pos);
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n, i = 0;
	int rc;

	rc = hf_yaml_map(y, parent, "a mapping of hash fields to values", 0, &n);
	if (rc)
		return rc;

	ds->nset = n;
	ds->set = hf_xcalloc(ds->nset, sizeof(*ds->set));
	while ((pair = fy_node_mapping_iterate(map, &it)) && i < ds->nset) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct fy_node *val = fy_node_pair_value(pair);
		struct hf_param *p = &ds->set[i++];
		struct hf_pos kpos = hf_yaml_pos(y, key, mpos);
		const char *name, *value;

		if (!key || hf_yaml_is_alias(key) || hf_yaml_is_null(key) || !fy_node_is_scalar(key) ||
		    !(name = fy_node_get_scalar0(key)) || !*name ||
		    strlen(name) != fy_node_get_scalar_length(key))
			return hf_yaml_fail(y, kpos, "invalid hash field name in 'set'");
		if (hf_yaml_is_alias(val))
			return hf_yaml_fail(y, hf_yaml_pos(y, val, kpos),
				    "yaml aliases are not supported ('%s')", name);
		if (hf_yaml_is_null(val))
			return hf_yaml_fail(y, hf_yaml_pos(y, val, kpos), "field '%s' in 'set' has no "
				    "value (write \"\" for an empty string)", name);
		if (!fy_node_is_scalar(val))
			return hf_yaml_fail(y, hf_yaml_pos(y, val, kpos),
				    "field '%s' in 'set' must have a single value, not a %s",
				    name, fy_node_is_mapping(val) ? "mapping" : "list");
		value = hf_yaml_scalar(y, val, kpos, name, "a value");
		if (!value)
			return HF_EINVAL;
		p->name = hf_xstrdup(name);
		p->value = hf_xstrdup(value);
		p->pos = kpos;
	}
	return 0;
}

static const struct hf_param *find_set(const struct hf_data_spec *ds, const char *name)
{
	size_t i;

	for (i = 0; i < ds->nset; i++)
		if (ds->set[i].name && !strcmp(ds->set[i].name, name))
			return &ds->set[i];
	return NULL;
}

static int find_unset(const struct hf_data_spec *ds, const char *name)
{
	size_t i;

	for (i = 0; i < ds->nunset; i++)
		if (ds->unset[i] && !strcmp(ds->unset[i], name))
			return 1;
	return 0;
}

/* 'unset' of a data change: a list of hash fields, none twice and none
 * also in 'set' (already parsed). */
static int parse_data_unset(struct hf_yaml *y, struct hf_field *parent, struct hf_data_spec *ds)
{
	struct fy_node *seq = parent->val;
	struct hf_pos spos = hf_yaml_pos(y, seq, parent->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n, i = 0;
	int rc;

	rc = hf_yaml_seq(y, parent, "a list of hash fields", 0, &n);
	if (rc)
		return rc;
	ds->unset = hf_xcalloc(n, sizeof(*ds->unset));
	while ((item = fy_node_sequence_iterate(seq, &it)) && i < n) {
		struct hf_pos ipos = hf_yaml_pos(y, item, spos);
		const char *s = hash_field(y, item, spos, "unset");

		if (!s)
			return HF_EINVAL;
		if (find_unset(ds, s))
			return hf_yaml_fail(y, ipos, "duplicate field '%s' in 'unset'", s);
		if (find_set(ds, s))
			return hf_yaml_fail(y, ipos, "field '%s' is both in 'set' and in 'unset'", s);
		ds->unset[i++] = hf_xstrdup(s);
		ds->nunset = i;
	}
	return 0;
}

/* 'rename' of a data change: {from: F, to: G}, two different hash fields,
 * neither of them also in 'set' or 'unset' (already parsed). */
static int parse_rename(struct hf_yaml *y, struct hf_field *parent, struct hf_data_spec *ds)
{
	enum { F_FROM, F_TO, F_N };
	struct hf_field f[F_N] = {
		[F_FROM] = { .name = "from", .required = 1 },
		[F_TO] = { .name = "to", .required = 1 },
	};
	const char *name[F_N];
	struct hf_pos pos;
	int rc, k;

	rc = hf_yaml_walk(y, parent->val, parent->pos, "'rename'", f, F_N);
	if (rc)
		return rc;
	for (k = 0; k < F_N; k++) {
		name[k] = hash_field(y, f[k].val, f[k].pos, f[k].name);
		if (!name[k])
			return HF_EINVAL;
		pos = hf_yaml_pos(y, f[k].val, f[k].pos);
		if (find_set(ds, name[k]))
			return hf_yaml_fail(y, pos, "renamed field '%s' is also in 'set'", name[k]);
		if (find_unset(ds, name[k]))
			return hf_yaml_fail(y, pos, "renamed field '%s' is also in 'unset'", name[k]);
	}
	if (!strcmp(name[F_FROM], name[F_TO]))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_TO].val, f[F_TO].pos),
			    "'rename' has the same field '%s' in 'from' and 'to'", name[F_TO]);
	ds->rename_from = hf_xstrdup(name[F_FROM]);
	ds->rename_to = hf_xstrdup(name[F_TO]);
	return 0;
}

/* 'lua' of a data change: a file relative to the manifest, read now, the
 * body of a Lua function of 'key'. Its SHA-256 ties a resumed run to the
 * same code. */
static int parse_lua(struct hf_yaml *y, struct hf_field *f, struct hf_data_spec *ds)
{
	struct hf_pos pos = hf_yaml_pos(y, f->val, f->pos);
	const char *file = hf_yaml_scalar(y, f->val, f->pos, "lua", "a file name");
	char *code = NULL;
	size_t len = 0;
	int rc;

	if (!file)
		return HF_EINVAL;
	if (!*file)
		return hf_yaml_fail(y, pos, "'lua' must not be empty");
	rc = hf_yaml_read_file(y, file, pos, "lua file", &code, &len);
	if (rc)
		return rc;
	if (strlen(code) != len)
		rc = hf_yaml_fail(y, pos, "lua file '%s' contains a nul character", file);
	else if (hf_yaml_blank(code))
		rc = hf_yaml_fail(y, pos, "lua file '%s' is empty", file);
	if (rc) {
		free(code);
		return rc;
	}
	ds->lua_file = hf_xstrdup(file);
	ds->lua_code = code;
	hf_sha256_hex(code, len, ds->lua_sha256);
	return 0;
}

/* The fields of a data change's body, and what parsing them found. */
enum {
	F_MATCH, F_KEYS_FILE, F_TYPE, F_WHERE, F_BATCH,
	F_SET, F_VALUE, F_UNSET, F_RENAME, F_TTL, F_PERSIST, F_DELETE, F_LUA,   /* operations */
	F_N
};

struct body {
	struct hf_field f[F_N];
	const char *type;                /* as given, or NULL */
	struct hf_pos where_field_pos;   /* of 'where: {field: ...}' */
	int on[F_N];                     /* which operations there are */
	const struct hf_field *hash_op;  /* the first hash operation, or NULL */
};

/* Which keys: 'match' or 'keys_file', 'type', 'where', 'batch'. */
static int parse_selection(struct hf_yaml *y, struct body *b, struct hf_data_spec *ds,
			   struct hf_pos at)
{
	struct hf_field *f = b->f;
	const char *s;
	int rc = 0, t;

	if (f[F_MATCH].seen && f[F_KEYS_FILE].seen)
		return hf_yaml_fail(y, hf_yaml_later(&f[F_MATCH], &f[F_KEYS_FILE])->pos,
				    "'match' and 'keys_file' exclude each other (a data change "
				    "selects its keys by one of them)");
	if (!f[F_MATCH].seen && !f[F_KEYS_FILE].seen)
		return hf_yaml_fail(y, at, "a data change needs 'match' (a SCAN pattern) or "
				    "'keys_file' (a file of keys, one per line)");
	if (f[F_MATCH].seen)
		rc = hf_yaml_text(y, &f[F_MATCH], &ds->match);
	if (!rc && f[F_KEYS_FILE].seen)
		rc = parse_keys_file(y, &f[F_KEYS_FILE], ds);
	if (!rc && f[F_TYPE].seen && !(rc = hf_yaml_enum(y, &f[F_TYPE], data_types, &t)))
		b->type = data_types[t];
	if (!rc && f[F_WHERE].seen)
		rc = parse_where(y, &f[F_WHERE], ds, &b->where_field_pos);
	if (rc || !f[F_BATCH].seen)
		return rc;
	s = hf_yaml_scalar(y, f[F_BATCH].val, f[F_BATCH].pos, "batch", "an integer from 1 to 10000");
	if (!s)
		return HF_EINVAL;
	if (hf_parse_positive(s, &ds->batch) || ds->batch > DATA_BATCH_MAX)
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_BATCH].val, f[F_BATCH].pos),
				    "invalid batch '%s' (expected an integer from 1 to %d)", s,
				    DATA_BATCH_MAX);
	return 0;
}

/* What to do: the operations, each read; 'unset' and 'rename' are checked
 * against what comes before them. */
static int parse_operations(struct hf_yaml *y, struct body *b, struct hf_data_spec *ds)
{
	struct hf_field *f = b->f;
	const char *s;
	int rc = 0;

	if (f[F_SET].seen)
		rc = parse_data_set(y, &f[F_SET], ds);
	if (!rc && f[F_UNSET].seen)
		rc = parse_data_unset(y, &f[F_UNSET], ds);
	if (!rc && f[F_RENAME].seen)
		rc = parse_rename(y, &f[F_RENAME], ds);
	if (!rc && f[F_VALUE].seen) {
		s = hf_yaml_scalar(y, f[F_VALUE].val, f[F_VALUE].pos, "value",
				   "a string (\"\" for an empty one)");
		if (!s)
			return HF_EINVAL;
		ds->value = hf_xstrdup(s);
	}
	if (!rc && f[F_TTL].seen)
		rc = hf_yaml_duration(y, &f[F_TTL], 1, &ds->ttl_ms);
	if (!rc && f[F_PERSIST].seen)
		rc = hf_yaml_bool(y, &f[F_PERSIST], &ds->persist);
	if (!rc && f[F_DELETE].seen)
		rc = hf_yaml_bool(y, &f[F_DELETE], &ds->del);
	if (!rc && f[F_LUA].seen)
		rc = parse_lua(y, &f[F_LUA], ds);
	return rc;
}

/* The operations that cannot go together. "persist: false" and "delete:
 * false" say what is not done, as if absent. */
static int check_operations(struct hf_yaml *y, struct body *b, const struct hf_data_spec *ds,
			    struct hf_pos at)
{
	struct hf_field *f = b->f;
	int k, nops = 0;

	for (k = F_SET; k <= F_LUA; k++) {
		b->on[k] = k == F_PERSIST ? ds->persist : k == F_DELETE ? ds->del : f[k].seen;
		nops += b->on[k];
	}
	if (!nops)
		return hf_yaml_fail(y, at, "a data change needs an operation (set, value, unset, "
				    "rename, ttl, persist: true, delete: true or lua)");
	for (k = F_SET; k <= F_LUA; k++)
		if (k != F_DELETE && b->on[k] && b->on[F_DELETE])
			return hf_yaml_fail(y, hf_yaml_later(&f[k], &f[F_DELETE])->pos, "'delete: "
					    "true' excludes every other operation (found '%s')",
					    f[k].name);
	for (k = F_SET; k <= F_LUA; k++)
		if (k != F_LUA && b->on[k] && b->on[F_LUA])
			return hf_yaml_fail(y, hf_yaml_later(&f[k], &f[F_LUA])->pos, "'lua' excludes "
					    "every other operation: the script does the whole repair "
					    "(found '%s')", f[k].name);
	if (b->on[F_TTL] && b->on[F_PERSIST])
		return hf_yaml_fail(y, hf_yaml_later(&f[F_TTL], &f[F_PERSIST])->pos,
				    "'ttl' and 'persist: true' exclude each other");
	for (k = F_SET; k <= F_RENAME && !b->hash_op; k++)
		if (k != F_VALUE && b->on[k])
			b->hash_op = &f[k];
	if (b->hash_op && b->on[F_VALUE])
		return hf_yaml_fail(y, hf_yaml_later(b->hash_op, &f[F_VALUE])->pos, "'value' sets a "
				    "string and '%s' edits a hash: they cannot be combined",
				    b->hash_op->name);
	return 0;
}

/* The type: given, or implied by the operations, or by 'where'. */
static int settle_type(struct hf_yaml *y, struct body *b, struct hf_data_spec *ds)
{
	const struct hf_field *why = b->hash_op ? b->hash_op : &b->f[F_VALUE];
	const char *implied = b->hash_op ? "hash" : b->on[F_VALUE] ? "string" : NULL;
	const char *type = b->type;

	if (type && implied && strcmp(type, implied))
		return hf_yaml_fail(y, hf_yaml_pos(y, b->f[F_TYPE].val, b->f[F_TYPE].pos),
				    "type '%s' does not fit '%s', which %s (expected type %s, "
				    "or no type)", type, why->name,
				    b->hash_op ? "edits a hash" : "sets a string", implied);
	if (type || implied)
		ds->type = hf_xstrdup(type ? type : implied);
	if (ds->where_field && (!ds->type || strcmp(ds->type, "hash"))) {
		if (!ds->type)
			return hf_yaml_fail(y, b->where_field_pos, "'where' tests hash field '%s': "
					    "add 'type: hash'", ds->where_field);
		return hf_yaml_fail(y, b->where_field_pos, "'where' tests hash field '%s', but the "
				    "keys are of type %s%s%s%s", ds->where_field, ds->type,
				    type ? "" : " (implied by '", type ? "" : why->name,
				    type ? "" : "')");
	}
	if (b->f[F_WHERE].seen && !ds->where_field) {
		if (!ds->type)
			ds->type = hf_xstrdup("string");
		else if (strcmp(ds->type, "string"))
			return hf_yaml_fail(y, b->f[F_WHERE].pos, "'where' without 'field' tests a "
					    "string's value, but the keys are of type %s%s%s%s (add "
					    "'field' to test a hash field)", ds->type,
					    type ? "" : " (implied by '", type ? "" : why->name,
					    type ? "" : "')");
	}
	return 0;
}

/* The body of a "data" change: a repair of the keys that 'match' (a SCAN
 * pattern) or 'keys_file' selects, optionally only those of one 'type' and
 * those 'where' a hash field or a string's value equals a value.
 *
 * The operations: hash ones (set, unset, rename), the string one (value),
 * and ttl or persist, which fit any type; 'delete: true' and 'lua' stand
 * alone. A hash operation without 'type' implies type hash, 'value' type
 * string, and so does a 'where' on a string's value. */
int hf_data_parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		  struct hf_manifest *m)
{
	static const char *const names[F_N] = {
		"match", "keys_file", "type", "where", "batch", "set", "value", "unset", "rename",
		"ttl", "persist", "delete", "lua",
	};
	struct hf_data_spec *ds = hf_xcalloc(1, sizeof(*ds));
	struct body b = {0};
	int rc, k;

	(void)m;
	ch->spec = ds;
	ds->batch = DATA_BATCH_DEFAULT;
	for (k = 0; k < F_N; k++)
		b.f[k].name = names[k];
	rc = hf_yaml_walk(y, body->val, body->pos, "'data'", b.f, F_N);
	if (!rc)
		rc = parse_selection(y, &b, ds, body->pos);
	if (!rc)
		rc = parse_operations(y, &b, ds);
	if (!rc)
		rc = check_operations(y, &b, ds, body->pos);
	if (!rc)
		rc = settle_type(y, &b, ds);
	return rc;
}


void hf_data_free(void *spec)
{
	struct hf_data_spec *ds = spec;
	size_t i;

	free(ds->match);
	free(ds->keys_file);
	for (i = 0; i < ds->nkeys; i++)
		free(ds->keys[i]);
	free(ds->keys);
	free(ds->type);
	free(ds->where_field);
	free(ds->where_equals);
	for (i = 0; i < ds->nset; i++) {
		free(ds->set[i].name);
		free(ds->set[i].value);
	}
	free(ds->set);
	free(ds->value);
	for (i = 0; i < ds->nunset; i++)
		free(ds->unset[i]);
	free(ds->unset);
	free(ds->rename_from);
	free(ds->rename_to);
	free(ds->lua_file);
	free(ds->lua_code);
	free(ds);
}

void hf_data_summary(const struct hf_change *ch, struct hf_buf *out)
{
	const struct hf_data_spec *ds = ch->spec;

	if (ds->keys_file)
		hf_buf_printf(out, "%zu key(s) from '%s'", ds->nkeys, ds->keys_file);
	else
		hf_buf_printf(out, "keys matching '%s'", ds->match);
	hf_buf_printf(out, ", type %s", ds->type ? ds->type : "any");
}
