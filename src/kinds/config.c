/* The 'config' kind: runtime configuration parameters of Redis nodes.
 * One multi-parameter CONFIG SET per node (atomic on the node), CONFIG GET
 * to capture and verify, CONFIG REWRITE to persist on promotion. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "kinds/config.h"
#include "util/buf.h"

/* Parameters Redis 7.0 refuses to change at runtime (immutable, or
 * protected while enable-protected-configs is off), and parameters whose
 * change would cut hotfix off from the node it must verify and roll back. */
static const struct {
	const char *name;
	const char *why;
} refused[] = {
	{ "daemonize", "immutable: changed only by a restart" },
	{ "databases", "immutable: changed only by a restart" },
	{ "io-threads", "immutable: changed only by a restart" },
	{ "io-threads-do-reads", "immutable: changed only by a restart" },
	{ "always-show-logo", "immutable: changed only by a restart" },
	{ "set-proc-title", "immutable: changed only by a restart" },
	{ "syslog-enabled", "immutable: changed only by a restart" },
	{ "syslog-ident", "immutable: changed only by a restart" },
	{ "syslog-facility", "immutable: changed only by a restart" },
	{ "supervised", "immutable: changed only by a restart" },
	{ "pidfile", "immutable: changed only by a restart" },
	{ "logfile", "immutable: changed only by a restart" },
	{ "aclfile", "immutable: changed only by a restart" },
	{ "unixsocket", "immutable: changed only by a restart" },
	{ "unixsocketperm", "immutable: changed only by a restart" },
	{ "tcp-backlog", "immutable: changed only by a restart" },
	{ "rdbchecksum", "immutable: changed only by a restart" },
	{ "cluster-enabled", "immutable: changed only by a restart" },
	{ "cluster-config-file", "immutable: changed only by a restart" },
	{ "cluster-port", "immutable: changed only by a restart" },
	{ "appendfilename", "immutable: changed only by a restart" },
	{ "appenddirname", "immutable: changed only by a restart" },
	{ "enable-protected-configs", "immutable: changed only by a restart" },
	{ "enable-debug-command", "immutable: changed only by a restart" },
	{ "enable-module-command", "immutable: changed only by a restart" },
	{ "dir", "protected: Redis refuses it at runtime unless enable-protected-configs is set" },
	{ "dbfilename", "protected: Redis refuses it at runtime unless enable-protected-configs is set" },
	{ "port", "changing it would cut hotfix off from the node it must verify and roll back" },
	{ "bind", "changing it would cut hotfix off from the node it must verify and roll back" },
	{ "tls-port", "changing it would cut hotfix off from the node it must verify and roll back" },
	{ "requirepass", "changing it would cut hotfix off from the node it must verify and roll back" },
};

/* A parameter already set by an earlier config change of 'm', or NULL. */
static const struct hf_param *find_param(const struct hf_manifest *m, const struct hf_change *upto,
					 const char *name)
{
	size_t i, k;

	for (i = 0; &m->changes[i] != upto; i++) {
		const struct hf_config_spec *cs = m->changes[i].spec;

		if (m->changes[i].kind != upto->kind)
			continue;
		for (k = 0; k < cs->nparams; k++)
			if (!strcmp(cs->params[k].name, name))
				return &cs->params[k];
	}
	return NULL;
}

/* The value of parameter 'name' (at 'kpos'): a scalar, its text kept, so
 * "300" and 300 are the same; a plain true/false becomes yes/no, the only
 * booleans Redis understands. */
static const char *param_value(struct hf_yaml *y, struct fy_node *val, struct hf_pos kpos,
			       const char *name)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	const char *v;
	size_t i;

	if (!hf_yaml_is_alias(val) && hf_yaml_is_null(val)) {
		hf_yaml_fail(y, hf_yaml_pos(y, val, kpos), "parameter '%s' has no value", name);
		return NULL;
	}
	if (!hf_yaml_is_alias(val) && !fy_node_is_scalar(val)) {
		hf_yaml_fail(y, hf_yaml_pos(y, val, kpos), "parameter '%s' must have a single value, "
			     "not a %s", name, fy_node_is_mapping(val) ? "mapping" : "list");
		return NULL;
	}
	v = hf_yaml_scalar(y, val, kpos, name, "a value");
	for (i = 0; v && hf_yaml_is_plain(val) && i < 3; i++)
		if (!strcmp(v, yes[i]) || !strcmp(v, no[i]))
			return !strcmp(v, yes[i]) ? "yes" : "no";
	return v;
}

/* The body of a config change: parameter name -> value. A parameter that
 * an earlier change already sets is refused: two changes to one
 * parameter make the before-state ambiguous. */
static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	struct hf_config_spec *cs = hf_xcalloc(1, sizeof(*cs));
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;
	int rc;

	ch->spec = cs;
	rc = hf_yaml_map(y, body, "a mapping of parameter names to values", 0, &n);
	if (rc)
		return rc;
	cs->params = hf_xcalloc(n, sizeof(*cs->params));
	while ((pair = fy_node_mapping_iterate(body->val, &it)) && cs->nparams < n) {
		struct fy_node *key = fy_node_pair_key(pair);
		struct hf_pos kpos = hf_yaml_pos(y, key, body->pos);
		const struct hf_param *prev;
		const char *name, *value, *p;

		if (!key || hf_yaml_is_alias(key) || hf_yaml_is_null(key) || !fy_node_is_scalar(key) ||
		    !(name = fy_node_get_scalar0(key)))
			return hf_yaml_fail(y, kpos, "invalid parameter name in 'config'");
		for (p = name; (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'; p++)
			;
		if (!*name || *p)
			return hf_yaml_fail(y, kpos, "invalid parameter name '%s' (expected lowercase "
					    "letters, digits and '-')", name);
		/* Duplicates within the mapping are the yaml parser's error. */
		prev = find_param(m, ch, name);
		if (prev)
			return hf_yaml_fail(y, kpos, "duplicate parameter '%s' (first set at %d:%d)", name,
					    prev->pos.line, prev->pos.col);
		value = param_value(y, fy_node_pair_value(pair), kpos, name);
		if (!value)
			return HF_EINVAL;
		cs->params[cs->nparams].name = hf_xstrdup(name);
		cs->params[cs->nparams].value = hf_xstrdup(value);
		cs->params[cs->nparams++].pos = kpos;
	}
	return 0;
}

static void spec_free(void *spec)
{
	struct hf_config_spec *cs = spec;
	size_t i;

	for (i = 0; i < cs->nparams; i++) {
		free(cs->params[i].name);
		free(cs->params[i].value);
	}
	free(cs->params);
	free(cs);
}

static int check(const struct hf_change *ch, struct hf_err *err)
{
	const struct hf_config_spec *cs = ch->spec;
	size_t i, k;

	for (i = 0; i < cs->nparams; i++)
		for (k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
			if (!strcmp(cs->params[i].name, refused[k].name))
				return hf_err_set(err, HF_EINVAL,
						  "%d:%d: parameter '%s' cannot be changed by a config hotfix (%s)",
						  cs->params[i].pos.line, cs->params[i].pos.col,
						  cs->params[i].name, refused[k].why);
	return 0;
}

/* Redis reports values in its own spelling: memory in bytes, enums in lower
 * case, lists with single spaces. Bring a value from the manifest to that
 * spelling so "100mb" and "104857600" compare equal. */
static char *normalize(const char *v)
{
	struct hf_buf b = {0};
	const char *p = v;
	char *end;
	double num;
	int space = 0;

	while (isspace((unsigned char)*p))
		p++;
	num = strtod(p, &end);
	if (end != p && *p != '-' && *p != '+' && isdigit((unsigned char)*p)) {
		static const struct { const char *unit; double mul; } units[] = {
			{ "b", 1 }, { "k", 1000 }, { "kb", 1024 }, { "m", 1000000 },
			{ "mb", 1024.0 * 1024 }, { "g", 1000000000 }, { "gb", 1024.0 * 1024 * 1024 },
		};
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcasecmp(end, units[i].unit) && num == (double)(long long)num) {
				hf_buf_printf(&b, "%lld", (long long)(num * units[i].mul));
				return hf_buf_detach(&b);
			}
	}
	for (; *p; p++) {
		if (isspace((unsigned char)*p)) {
			space = 1;
			continue;
		}
		if (space && b.len)
			hf_buf_puts(&b, " ");
		space = 0;
		hf_buf_append(&b, (char[]){ (char)tolower((unsigned char)*p) }, 1);
	}
	return hf_buf_detach(&b);
}

static int same(const char *live, const char *wanted)
{
	char *a, *b;
	int r;

	if (!strcmp(live, wanted))
		return 1;
	a = normalize(live);
	b = normalize(wanted);
	r = !strcmp(a, b);
	free(a);
	free(b);
	return r;
}

/* Queue "CONFIG GET p1 p2 ..." for the change's parameters on 'call'. */
static void queue_get(const struct hf_change *ch, struct hf_call *call)
{
	const struct hf_config_spec *cs = ch->spec;
	struct hf_argv *a = hf_call_cmd(call);
	size_t i;

	hf_argv_push(a, "CONFIG");
	hf_argv_push(a, "GET");
	for (i = 0; i < cs->nparams; i++)
		hf_argv_push(a, cs->params[i].name);
}

/* The value of 'name' in a CONFIG GET reply, or NULL. */
static const char *reply_value(const struct hf_reply *r, const char *name)
{
	size_t i;

	if (!r || r->type != HF_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < r->nelem; i += 2)
		if (r->elem[i]->str && !strcasecmp(r->elem[i]->str, name) && r->elem[i + 1]->str)
			return r->elem[i + 1]->str;
	return NULL;
}

static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		size_t n, struct hf_err *err)
{
	struct hf_cluster *c = x->c;
	const struct hf_config_spec *cs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i, k;
	int rc = 0;

	for (i = 0; i < n; i++)
		queue_get(ch, &calls[i]);
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n && !rc; i++) {
		if (t[i].status)
			continue;
		for (k = 0; k < cs->nparams; k++) {
			const struct hf_param *p = &cs->params[k];
			const char *cur = reply_value(calls[i].replies[0], p->name);

			if (!cur) {
				rc = hf_err_set(err, HF_EINVAL,
						"%d:%d: unknown parameter '%s': %s:%d has no such setting",
						p->pos.line, p->pos.col, p->name, t[i].node->host,
						t[i].node->port);
				break;
			}
			if (!same(cur, p->value))
				hf_target_add_diff(&t[i], "%s: \"%s\" -> \"%s\"", p->name, cur, p->value);
		}
	}
	hf_kind_calls_free(calls, n);
	return rc;
}

/* The change's parameters as a CONFIG GET reply 'r' shows them, as a JSON
 * object; '*missing' names the first parameter the reply lacks, or NULL. */
static json_t *params_of(const struct hf_change *ch, const struct hf_reply *r,
			 const char **missing)
{
	const struct hf_config_spec *cs = ch->spec;
	json_t *params = json_object();
	size_t k;

	*missing = NULL;
	for (k = 0; k < cs->nparams; k++) {
		const char *cur = reply_value(r, cs->params[k].name);

		if (cur)
			json_object_set_new(params, cs->params[k].name, json_string(cur));
		else if (!*missing)
			*missing = cs->params[k].name;
	}
	return params;
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++)
		queue_get(ch, &calls[i]);
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		const char *missing;
		json_t *blob;

		if (t[i].status)
			continue;
		blob = json_object();
		json_object_set_new(blob, "params", params_of(ch, calls[i].replies[0], &missing));
		json_object_set_new(blob, "config_file", json_boolean(t[i].node->has_config_file));
		if (missing) {
			hf_target_set(&t[i], HF_ERR, "%s:%d has no parameter '%s'", t[i].node->host,
				      t[i].node->port, missing);
		} else {
			free(t[i].step->before);
			t[i].step->before = json_dumps(blob, JSON_COMPACT | JSON_SORT_KEYS);
		}
		json_decref(blob);
	}
	hf_kind_calls_free(calls, n);
}

static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	const struct hf_config_spec *cs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i, k;

	for (i = 0; i < n; i++) {
		struct hf_argv *a = hf_call_cmd(&calls[i]);

		hf_argv_push(a, "CONFIG");
		hf_argv_push(a, "SET");
		for (k = 0; k < cs->nparams; k++) {
			hf_argv_push(a, cs->params[k].name);
			hf_argv_push(a, cs->params[k].value);
		}
		queue_get(ch, &calls[i]);
	}
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		const char *missing;
		json_t *blob;

		if (t[i].status)
			continue;
		blob = json_object();
		json_object_set_new(blob, "params", params_of(ch, calls[i].replies[1], &missing));
		free(t[i].step->after);
		t[i].step->after = json_dumps(blob, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(blob);
	}
	hf_kind_calls_free(calls, n);
}

/* The recorded value of 'name' in a blob ("params" of before or after). */
static const char *blob_value(json_t *blob, const char *name)
{
	json_t *params = blob ? json_object_get(blob, "params") : NULL;

	return params ? json_string_value(json_object_get(params, name)) : NULL;
}

static json_t *load_blob(const char *s)
{
	return s ? json_loads(s, 0, NULL) : NULL;
}

/* Does the live value 'cur' of parameter 'p' hold the after-state? The
 * server's own spelling recorded at apply wins over the manifest's. */
static int holds_after(const struct hf_param *p, json_t *after, const char *cur)
{
	const char *rec = blob_value(after, p->name);

	return rec ? !strcmp(cur, rec) : same(cur, p->value);
}

static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	struct hf_cluster *c = x->c;
	const struct hf_config_spec *cs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i, k;

	for (i = 0; i < n; i++)
		queue_get(ch, &calls[i]);
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		json_t *before, *after, *seen;

		if (t[i].status)
			continue;
		before = load_blob(t[i].step->before);
		after = load_blob(t[i].step->after);
		seen = json_object();
		t[i].match = 1;
		for (k = 0; k < cs->nparams && t[i].match; k++) {
			const struct hf_param *p = &cs->params[k];
			const char *cur = reply_value(calls[i].replies[0], p->name);
			const char *want = side == HF_SIDE_BEFORE ? blob_value(before, p->name) : NULL;

			if (!cur)
				t[i].match = 0;
			else if (side == HF_SIDE_BEFORE)
				t[i].match = want && !strcmp(cur, want);
			else
				t[i].match = holds_after(p, after, cur);
			if (cur)
				json_object_set_new(seen, p->name, json_string(cur));
		}
		if (side == HF_SIDE_AFTER && t[i].match && !after) {
			json_t *blob = json_object();

			json_object_set(blob, "params", seen);
			t[i].step->after = json_dumps(blob, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(blob);
		}
		json_decref(seen);
		json_decref(before);
		json_decref(after);
	}
	hf_kind_calls_free(calls, n);
}

static void read_live(const struct hf_change *ch, struct hf_call *call)
{
	queue_get(ch, call);
}

/* What parameter 'p' holds on the node: its before value (or nothing to
 * compare), the hotfix's, or another; '*cur' and '*want' get the live and
 * the before value. */
static enum hf_held param_held(const struct hf_param *p, const struct hf_call *live, json_t *before,
			       json_t *after, const char **cur, const char **want)
{
	*cur = reply_value(live->replies[0], p->name);
	*want = blob_value(before, p->name);
	if (!*cur || !*want || !strcmp(*cur, *want))
		return HF_HELD_BEFORE;
	return holds_after(p, after, *cur) ? HF_HELD_AFTER : HF_HELD_OTHER;
}

/* Parameter by parameter: the before value, the hotfix's, or another. */
static enum hf_held classify(const struct hf_change *ch, const struct hf_step *s,
			     const struct hf_call *live, char *why, size_t len)
{
	const struct hf_config_spec *cs = ch->spec;
	json_t *before = load_blob(s->before), *after = load_blob(s->after);
	enum hf_held held = HF_HELD_BEFORE;
	struct hf_buf conflicts = {0};
	size_t k;

	for (k = 0; k < cs->nparams; k++) {
		const struct hf_param *p = &cs->params[k];
		const char *cur, *want;
		enum hf_held h = param_held(p, live, before, after, &cur, &want);

		if (h == HF_HELD_BEFORE)
			continue;
		if (h == HF_HELD_AFTER) {
			if (held == HF_HELD_BEFORE)
				held = HF_HELD_AFTER;
			continue;
		}
		held = HF_HELD_OTHER;
		hf_buf_printf(&conflicts, "%s%s is \"%s\" (before \"%s\", hotfix set \"%s\")",
			      conflicts.len ? "; " : "", p->name, cur, want,
			      blob_value(after, p->name) ? blob_value(after, p->name) : p->value);
	}
	if (held == HF_HELD_OTHER)
		snprintf(why, len, "changed since the hotfix, left as it is: %s", conflicts.s);
	hf_buf_release(&conflicts);
	json_decref(before);
	json_decref(after);
	return held;
}

/* One CONFIG SET of every parameter that is not at its before value; a
 * parameter someone else changed only when forced. */
static int restore(const struct hf_change *ch, const struct hf_step *s, const struct hf_call *live,
		   enum hf_held held, unsigned flags, struct hf_call *call, char *why, size_t len)
{
	int force = !!(flags & HF_REVERT_FORCE);
	const struct hf_config_spec *cs = ch->spec;
	json_t *before = load_blob(s->before), *after = load_blob(s->after);
	struct hf_argv *a = hf_call_cmd(call);
	size_t k;

	(void)held, (void)why, (void)len;
	hf_argv_push(a, "CONFIG");
	hf_argv_push(a, "SET");
	for (k = 0; k < cs->nparams; k++) {
		const char *cur, *want;
		enum hf_held h = param_held(&cs->params[k], live, before, after, &cur, &want);

		if (h == HF_HELD_AFTER || (h == HF_HELD_OTHER && force)) {
			hf_argv_push(a, cs->params[k].name);
			hf_argv_push(a, want);
		}
	}
	if (a->argc == 2) {
		hf_argv_release(a);
		call->ncmds--;
	}
	json_decref(before);
	json_decref(after);
	return 0;
}

static void persist(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	(void)ch;
	hf_kind_send_all(c, t, n, "CONFIG", "REWRITE");
}

/* The before-state records whether the node has a config file to rewrite. */
static int needs_persist(const struct hf_change *ch, const struct hf_step *s)
{
	json_t *before = load_blob(s->before);
	int yes = json_is_true(json_object_get(before, "config_file"));

	(void)ch;
	json_decref(before);
	return yes;
}

const struct hf_change_kind hf_kind_config = {
	.name = "config",
	.parse = parse,
	.free = spec_free,
	.check = check,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = hf_kind_revert,
	.read = read_live,
	.classify = classify,
	.restore = restore,
	.needs_persist = needs_persist,
	.persist = persist,
};
