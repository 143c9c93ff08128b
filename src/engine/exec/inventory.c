/* The exec engine's inventory: see inventory.h. The YAML file goes through
 * core/yaml (FILE:LINE:COL in every error); a discovery's JSON through
 * jansson; both end in the same checks of a node's fields. */
#include "engine/exec/inventory.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/yaml.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

#define INVENTORY_MAX_BYTES (1024 * 1024)
#define MAX_NODES 10000
#define NAME_MAX_LEN 128
#define HOST_MAX_LEN 253
#define LABEL_VALUE_MAX 1024

static const char ID_CHARS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@/-";
static const char HOST_CHARS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:%-";

/* ---- a node's fields, whichever the source -------------------------- */

/* NULL when 's' is made of 'chars' only and 1..'max' long, else why. */
static const char *bad_word(const char *s, const char *chars, size_t max)
{
	size_t len = strlen(s);

	if (!len)
		return "must not be empty";
	if (len > max)
		return "is too long";
	if (strspn(s, chars) != len)
		return chars == HOST_CHARS ? "must be a host name or an IP address" :
		       "may hold only letters, digits and . _ : @ / -";
	return NULL;
}

/* NULL when 's' is a label value (no control characters), else why. */
static const char *bad_label_value(const char *s)
{
	const unsigned char *p;

	if (strlen(s) > LABEL_VALUE_MAX)
		return "is too long";
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "must not hold control characters";
	return NULL;
}

static int parse_role(const char *s, int *primary)
{
	if (!strcmp(s, "primary") || !strcmp(s, "replica")) {
		*primary = s[0] == 'p';
		return 0;
	}
	return -1;
}

static void node_release(struct hf_inv_node *n)
{
	size_t i;

	for (i = 0; i < n->nlabels; i++) {
		free(n->labels[i].key);
		free(n->labels[i].value);
	}
	free(n->labels);
	free(n->id);
	free(n->host);
	free(n->group);
	memset(n, 0, sizeof(*n));
}

static void nodes_release(struct hf_inventory *inv)
{
	size_t i;

	for (i = 0; i < inv->n; i++)
		node_release(&inv->nodes[i]);
	free(inv->nodes);
	inv->nodes = NULL;
	inv->n = 0;
}

/* Index of a node of 'nodes[0..n)' with the id or the address of 'x',
 * or -1; '*same_id' says which. */
static long clash(const struct hf_inv_node *nodes, size_t n, const struct hf_inv_node *x,
		  int *same_id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*same_id = !strcmp(nodes[i].id, x->id);
		if (*same_id || (nodes[i].port == x->port && !strcmp(nodes[i].host, x->host)))
			return (long)i;
	}
	return -1;
}

const char *hf_inv_label(const struct hf_inv_node *n, const char *key)
{
	size_t i;

	for (i = 0; i < n->nlabels; i++)
		if (!strcmp(n->labels[i].key, key))
			return n->labels[i].value;
	return NULL;
}

/* ---- the YAML file -------------------------------------------------- */

static int yaml_word(struct hf_yaml *y, const struct hf_field *f, const char *chars, size_t max,
		     char **out)
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a string");
	const char *why = s ? bad_word(s, chars, max) : NULL;

	if (!s)
		return HF_EINVAL;
	if (why)
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "'%s' %s ('%s')", f->name, why, s);
	*out = hf_xstrdup(s);
	return 0;
}

static int yaml_labels(struct hf_yaml *y, const struct hf_field *f, struct hf_inv_node *n)
{
	struct hf_pos at = hf_yaml_pos(y, f->val, f->pos);
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t count;
	int rc = hf_yaml_map(y, f, "a mapping of names to values", HF_YAML_EMPTY_OK, &count);

	if (rc)
		return rc;
	n->labels = hf_xcalloc(count ? count : 1, sizeof(*n->labels));
	while (n->nlabels < count && (pair = fy_node_mapping_iterate(f->val, &it))) {
		struct hf_field k = { .name = "a label's name", .val = fy_node_pair_key(pair), .pos = at };
		struct hf_field v = { .name = "a label's value", .val = fy_node_pair_value(pair), .pos = at };
		struct hf_inv_label *l = &n->labels[n->nlabels];
		const char *s, *why;

		if ((rc = yaml_word(y, &k, ID_CHARS, NAME_MAX_LEN, &l->key)))
			return rc;
		v.pos = hf_yaml_pos(y, k.val, at);
		if (hf_inv_label(n, l->key)) {
			rc = hf_yaml_fail(y, v.pos, "label '%s' is given twice", l->key);
			free(l->key);
			l->key = NULL;
			return rc;
		}
		n->nlabels++;
		if (!(s = hf_yaml_scalar(y, v.val, v.pos, l->key, "a string")))
			return HF_EINVAL;
		if ((why = bad_label_value(s)))
			return hf_yaml_fail(y, hf_yaml_pos(y, v.val, v.pos), "label '%s' %s", l->key, why);
		l->value = hf_xstrdup(s);
	}
	return 0;
}

static int yaml_port(struct hf_yaml *y, const struct hf_field *f, int *port)
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a port (1-65535)");
	long v;

	if (!s)
		return HF_EINVAL;
	if (hf_parse_positive(s, &v) || v > 65535)
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "'port' must be a port "
				    "(1-65535), not '%s'", s);
	*port = (int)v;
	return 0;
}

static int yaml_node(struct hf_yaml *y, struct fy_node *item, struct hf_pos at,
		     struct hf_inv_node *n)
{
	enum { F_ID, F_HOST, F_PORT, F_ROLE, F_GROUP, F_LABELS, F_N };
	struct hf_field f[F_N] = {
		[F_ID] = { .name = "id", .required = 1 },
		[F_HOST] = { .name = "host", .required = 1 },
		[F_PORT] = { .name = "port", .required = 1 },
		[F_ROLE] = { .name = "role", .required = 1 },
		[F_GROUP] = { .name = "group", .required = 1 },
		[F_LABELS] = { .name = "labels" },
	};
	static const char *const roles[] = { "primary", "replica", NULL };
	int rc = hf_yaml_walk(y, item, at, "a node", f, F_N), role = 0;

	if (!rc)
		rc = yaml_word(y, &f[F_ID], ID_CHARS, NAME_MAX_LEN, &n->id);
	if (!rc)
		rc = yaml_word(y, &f[F_HOST], HOST_CHARS, HOST_MAX_LEN, &n->host);
	if (!rc)
		rc = yaml_port(y, &f[F_PORT], &n->port);
	if (!rc)
		rc = hf_yaml_enum(y, &f[F_ROLE], roles, &role);
	n->primary = role == 0;
	if (!rc)
		rc = yaml_word(y, &f[F_GROUP], ID_CHARS, NAME_MAX_LEN, &n->group);
	if (!rc && f[F_LABELS].seen)
		rc = yaml_labels(y, &f[F_LABELS], n);
	return rc;
}

static int yaml_nodes(struct hf_yaml *y, struct hf_field *f, struct hf_inventory *inv)
{
	struct hf_pos at = hf_yaml_pos(y, f->val, f->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t count;
	int rc = hf_yaml_seq(y, f, "a list of nodes", 0, &count), same_id;
	long other;

	if (!rc && count > MAX_NODES)
		return hf_yaml_fail(y, at, "more than %d nodes", MAX_NODES);
	if (!rc)
		inv->nodes = hf_xcalloc(count, sizeof(*inv->nodes));
	while (!rc && inv->n < count && (item = fy_node_sequence_iterate(f->val, &it))) {
		struct hf_pos pos = hf_yaml_pos(y, item, at);
		struct hf_inv_node *n = &inv->nodes[inv->n];

		if (hf_yaml_is_alias(item) || !fy_node_is_mapping(item))
			return hf_yaml_fail(y, pos, "node %zu must be a mapping (id, host, port, role, "
					    "group, labels)", inv->n + 1);
		rc = yaml_node(y, item, pos, n);
		inv->n++;
		if (rc || (other = clash(inv->nodes, inv->n - 1, n, &same_id)) < 0)
			continue;
		if (same_id)
			rc = hf_yaml_fail(y, pos, "node %zu has the id '%s' of node %ld", inv->n, n->id,
					  other + 1);
		else
			rc = hf_yaml_fail(y, pos, "node %zu has the address %s:%d of node %ld", inv->n,
					  n->host, n->port, other + 1);
	}
	return rc;
}

static int parse_root(struct hf_yaml *y, struct fy_node *root, void *ud)
{
	enum { F_API, F_KIND, F_NODES, F_DISCOVER, F_N };
	struct hf_field f[F_N] = {
		[F_API] = { .name = "apiVersion", .required = 1 },
		[F_KIND] = { .name = "kind", .required = 1 },
		[F_NODES] = { .name = "nodes" },
		[F_DISCOVER] = { .name = "discover" },
	};
	struct hf_pos start = { 1, 1 };
	struct hf_inventory *inv = ud;
	const char *s;
	int rc;

	if (hf_yaml_is_null(root) || !fy_node_is_mapping(root))
		return hf_yaml_fail(y, start, "an inventory must be a mapping (apiVersion, kind, "
				    "nodes or discover)");
	if ((rc = hf_yaml_walk(y, root, start, "the inventory", f, F_N)))
		return rc;
	s = hf_yaml_scalar(y, f[F_API].val, f[F_API].pos, "apiVersion", "'hotfix/v1'");
	if (s && strcmp(s, "hotfix/v1"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_API].val, f[F_API].pos),
				    "unsupported apiVersion '%s' (expected 'hotfix/v1')", s);
	if (s && !(s = hf_yaml_scalar(y, f[F_KIND].val, f[F_KIND].pos, "kind", "'Inventory'")))
		return HF_EINVAL;
	if (s && strcmp(s, "Inventory"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_KIND].val, f[F_KIND].pos),
				    "unsupported kind '%s' (expected 'Inventory')", s);
	if (!s)
		return HF_EINVAL;
	if (f[F_NODES].seen == f[F_DISCOVER].seen)
		return hf_yaml_fail(y, f[F_NODES].seen ? hf_yaml_later(&f[F_NODES], &f[F_DISCOVER])->pos :
				    start, "an inventory has either 'nodes' or 'discover'%s",
				    f[F_NODES].seen ? ", not both" : "");
	if (f[F_DISCOVER].seen)
		return hf_yaml_text(y, &f[F_DISCOVER], &inv->discover);
	return yaml_nodes(y, &f[F_NODES], inv);
}

int hf_inventory_parse(const char *path, const char *text, size_t len,
		       struct hf_inventory **out, struct hf_err *err)
{
	struct hf_inventory *inv = hf_xcalloc(1, sizeof(*inv));
	struct hf_yaml y = { .path = path, .err = err, .text = text, .len = len };
	char *abs, *slash;
	int rc = hf_yaml_parse(&y, parse_root, inv);

	if (rc) {
		hf_inventory_free(inv);
		return rc;
	}
	inv->path = hf_xstrdup(path);
	abs = realpath(path, NULL);
	slash = abs ? strrchr(abs, '/') : NULL;
	if (slash)
		*(slash == abs ? slash + 1 : slash) = 0;
	inv->dir = abs ? abs : hf_xstrdup(".");
	*out = inv;
	return 0;
}

int hf_inventory_load(const char *path, struct hf_inventory **out, struct hf_err *err)
{
	struct hf_buf buf = {0};
	int rc = hf_file_read(path, INVENTORY_MAX_BYTES, &buf);

	if (rc)
		rc = hf_err_set(err, HF_EINVAL, "cannot read inventory '%s': %s", path,
				rc == EFBIG ? "larger than 1 MiB" : strerror(rc));
	else
		rc = hf_inventory_parse(path, buf.s ? buf.s : "", buf.len, out, err);
	hf_buf_release(&buf);
	return rc;
}

/* ---- a discovery's JSON -------------------------------------------- */

static int json_word(json_t *o, const char *name, const char *chars, size_t max, char **out,
		     const char **why)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		*why = v ? "must be a string" : "is missing";
		return -1;
	}
	if ((*why = bad_word(json_string_value(v), chars, max)))
		return -1;
	*out = hf_xstrdup(json_string_value(v));
	return 0;
}

static int json_labels(json_t *o, struct hf_inv_node *n, const char **field, const char **why)
{
	json_t *labels = json_object_get(o, "labels"), *v;
	const char *key;

	*field = "labels";
	if (!labels)
		return 0;
	if (!json_is_object(labels)) {
		*why = "must be an object of names to strings";
		return -1;
	}
	n->labels = hf_xcalloc(json_object_size(labels) + 1, sizeof(*n->labels));
	json_object_foreach(labels, key, v) {
		struct hf_inv_label *l = &n->labels[n->nlabels];

		*field = key;
		if ((*why = bad_word(key, ID_CHARS, NAME_MAX_LEN)))
			return -1;
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    (*why = bad_label_value(json_string_value(v)))) {
			*why = *why ? *why : "must be a string";
			return -1;
		}
		l->key = hf_xstrdup(key);
		l->value = hf_xstrdup(json_string_value(v));
		n->nlabels++;
	}
	return 0;
}

/* One node of a discovery; -1 with '*field' and '*why' naming the fault. */
static int json_node(json_t *o, struct hf_inv_node *n, const char **field, const char **why)
{
	static const char *const known[] = { "id", "host", "port", "role", "group", "labels" };
	json_t *port = json_object_get(o, "port"), *role = json_object_get(o, "role");
	const char *key;
	json_t *v;
	size_t i;

	*field = "";
	if (!json_is_object(o)) {
		*why = "must be an object (id, host, port, role, group, labels)";
		return -1;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; i < sizeof(known) / sizeof(*known) && strcmp(key, known[i]); i++)
			;
		if (i == sizeof(known) / sizeof(*known)) {
			*field = key;
			*why = "is not a field of a node (id, host, port, role, group, labels)";
			return -1;
		}
	}
	if ((*field = "id", json_word(o, "id", ID_CHARS, NAME_MAX_LEN, &n->id, why)) ||
	    (*field = "host", json_word(o, "host", HOST_CHARS, HOST_MAX_LEN, &n->host, why)) ||
	    (*field = "group", json_word(o, "group", ID_CHARS, NAME_MAX_LEN, &n->group, why)))
		return -1;
	*field = "port";
	if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
		*why = "must be a port (1-65535)";
		return -1;
	}
	n->port = (int)json_integer_value(port);
	*field = "role";
	if (!json_is_string(role) || parse_role(json_string_value(role), &n->primary)) {
		*why = "must be \"primary\" or \"replica\"";
		return -1;
	}
	return json_labels(o, n, field, why);
}

static int json_nodes(struct hf_inventory *inv, const char *what, json_t *nodes, struct hf_err *err)
{
	const char *field, *why;
	size_t i, n = json_array_size(nodes);
	int same_id;
	long other;

	if (!n || n > MAX_NODES)
		return hf_err_set(err, HF_EINVAL, "%s: 'nodes' %s", what,
				  n ? "holds too many nodes" : "is empty");
	inv->nodes = hf_xcalloc(n, sizeof(*inv->nodes));
	for (i = 0; i < n; i++) {
		struct hf_inv_node *node = &inv->nodes[inv->n++];

		if (json_node(json_array_get(nodes, i), node, &field, &why))
			return hf_err_set(err, HF_EINVAL, "%s: nodes[%zu]%s%s %s", what, i,
					  *field ? "." : "", field, why);
		if ((other = clash(inv->nodes, inv->n - 1, node, &same_id)) >= 0)
			return hf_err_set(err, HF_EINVAL, "%s: nodes[%zu] has the %s of nodes[%ld]",
					  what, i, same_id ? "id" : "address", other);
	}
	return 0;
}

int hf_inventory_from_json(struct hf_inventory *inv, const char *what, const char *text,
			   size_t len, struct hf_err *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *nodes;
	int rc;

	nodes_release(inv);
	if (!doc)
		return hf_err_set(err, HF_EINVAL, "%s: its output is not JSON: line %d, column %d: %s",
				  what, jerr.line, jerr.column, jerr.text);
	nodes = json_object_get(doc, "nodes");
	if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_array(nodes))
		rc = hf_err_set(err, HF_EINVAL, "%s: its output must be {\"nodes\": [...]}", what);
	else
		rc = json_nodes(inv, what, nodes, err);
	if (rc)
		nodes_release(inv);
	json_decref(doc);
	return rc;
}

int hf_inventory_refresh(struct hf_inventory *inv, long timeout_ms, struct hf_err *err)
{
	char *argv[] = { "/bin/sh", "-c", inv->discover, NULL };
	struct hf_proc_io io = { .cwd = inv->dir };
	char *what;
	int rc;

	if (!inv->discover)
		return 0;
	what = hf_xasprintf("discover (%s)", inv->discover);
	rc = hf_proc_exec(argv, timeout_ms, &io);
	if (rc < 0) {
		rc = hf_err_set(err, HF_ERR, "%s: %s", what, io.why);
	} else if (rc > 0) {
		int len = (int)strcspn(io.err, "\n");

		rc = hf_err_set(err, HF_ERR, "%s: exit status %d%s%.*s", what, rc, len ? ": " : "",
				len > 300 ? 300 : len, io.err);
	} else {
		rc = hf_inventory_from_json(inv, what, io.out, io.outlen, err);
	}
	hf_proc_io_release(&io);
	free(what);
	return rc;
}

void hf_inventory_free(struct hf_inventory *inv)
{
	if (!inv)
		return;
	nodes_release(inv);
	free(inv->path);
	free(inv->dir);
	free(inv->discover);
	free(inv);
}
