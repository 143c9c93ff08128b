/* The 'function' kind: a server-side function library (Redis 7 FUNCTION).
 * Loaded with FUNCTION LOAD REPLACE on every primary (replicas receive it
 * by replication); the before-state is the primary's whole FUNCTION DUMP,
 * restored exactly with FUNCTION RESTORE ... FLUSH. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "kinds/function.h"
#include "util/buf.h"
#include "util/misc.h"

/* The code of library 'lib' in a FUNCTION LIST ... WITHCODE reply, or NULL. */
static const struct hf_reply *library_code(const struct hf_reply *r, const char *lib)
{
	size_t i, k;

	if (!r || r->type != HF_REPLY_ARRAY)
		return NULL;
	for (i = 0; i < r->nelem; i++) {
		const struct hf_reply *l = r->elem[i], *name = NULL, *code = NULL;

		if (l->type != HF_REPLY_ARRAY)
			continue;
		for (k = 0; k + 1 < l->nelem; k += 2) {
			if (!l->elem[k]->str)
				continue;
			if (!strcmp(l->elem[k]->str, "library_name"))
				name = l->elem[k + 1];
			else if (!strcmp(l->elem[k]->str, "library_code"))
				code = l->elem[k + 1];
		}
		if (name && name->str && !strcmp(name->str, lib))
			return code;
	}
	return NULL;
}

static void queue_list(const struct hf_change *ch, struct hf_call *call)
{
	const struct hf_function_spec *fs = ch->spec;
	struct hf_argv *a = hf_call_cmd(call);

	hf_argv_push(a, "FUNCTION");
	hf_argv_push(a, "LIST");
	hf_argv_push(a, "LIBRARYNAME");
	hf_argv_push(a, fs->library);
	hf_argv_push(a, "WITHCODE");
}

static void queue_dump(struct hf_call *call)
{
	struct hf_argv *a = hf_call_cmd(call);

	hf_argv_push(a, "FUNCTION");
	hf_argv_push(a, "DUMP");
}

/* SHA-256 of the library's live code, or "absent". */
static void code_sha(const struct hf_reply *code, char out[65])
{
	if (code && code->str)
		hf_sha256_hex(code->str, code->len, out);
	else
		snprintf(out, 65, "absent");
}

static void dump_sha(const struct hf_reply *dump, char out[65])
{
	if (dump && dump->type == HF_REPLY_STRING)
		hf_sha256_hex(dump->str, dump->len, out);
	else
		snprintf(out, 65, "none");
}

static const char *blob_str(const char *blob, const char *key, char *out, size_t len)
{
	json_t *j = blob ? json_loads(blob, 0, NULL) : NULL;
	const char *v = j ? json_string_value(json_object_get(j, key)) : NULL;

	snprintf(out, len, "%s", v ? v : "");
	json_decref(j);
	return out;
}

/* Functions replicate from a primary to its replicas: only primaries are
 * targets. The plan also shows drift: shards whose libraries already
 * differ from one another before the change. */
/* The body of a function change: the library's name and the file that
 * holds its code, relative to the manifest. The file is read now, so that
 * a missing file or a library of another name is refused before anything
 * is planned. */
static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	enum { F_LIBRARY, F_FILE, F_N };
	struct hf_field f[F_N] = {
		[F_LIBRARY] = { .name = "library", .required = 1 },
		[F_FILE] = { .name = "file", .required = 1 },
	};
	struct hf_function_spec *fs = hf_xcalloc(1, sizeof(*fs));
	struct hf_pos fpos;
	const char *lib, *file, *p;
	char want[160];
	size_t i, k;
	int rc;

	ch->spec = fs;
	rc = hf_yaml_walk(y, body->val, body->pos, "'function'", f, F_N);
	if (rc)
		return rc;
	lib = hf_yaml_scalar(y, f[F_LIBRARY].val, f[F_LIBRARY].pos, "library", "a library name");
	if (!lib)
		return HF_EINVAL;
	for (p = lib; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			break;
	if (!*lib || *p || strlen(lib) > 64)
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_LIBRARY].val, f[F_LIBRARY].pos),
				    "invalid library name '%s' (expected letters, digits and '_')", lib);
	for (i = 0; &m->changes[i] != ch; i++)
		if (m->changes[i].kind == ch->kind &&
		    !strcmp(((struct hf_function_spec *)m->changes[i].spec)->library, lib))
			return hf_yaml_fail(y, f[F_LIBRARY].pos, "duplicate function library '%s'", lib);
	fs->library = hf_xstrdup(lib);
	file = hf_yaml_scalar(y, f[F_FILE].val, f[F_FILE].pos, "file", "a file name");
	if (!file)
		return HF_EINVAL;
	fpos = hf_yaml_pos(y, f[F_FILE].val, f[F_FILE].pos);
	rc = hf_yaml_read_file(y, file, fpos, "function file", &fs->code, &fs->codelen);
	if (rc)
		return rc;
	/* Redis takes the library's name from the code's first line. */
	snprintf(want, sizeof(want), "#!lua name=%s", lib);
	k = strcspn(fs->code, "\r\n");
	if (strncmp(fs->code, "#!lua name=", 11))
		return hf_yaml_fail(y, fpos, "function file '%s' does not start with '#!lua name=%s'",
				    file, lib);
	if (k != strlen(want) || strncmp(fs->code, want, k))
		return hf_yaml_fail(y, fpos, "function file '%s' declares '%.*s', not library '%s'",
				    file, (int)(k > 11 ? k - 11 : 0), fs->code + 11, lib);
	fs->file = hf_xstrdup(file);
	hf_sha256_hex(fs->code, fs->codelen, fs->code_sha256);
	return 0;
}

static void spec_free(void *spec)
{
	struct hf_function_spec *fs = spec;

	free(fs->library);
	free(fs->file);
	free(fs->code);
	free(fs);
}

static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		size_t n, struct hf_err *err)
{
	struct hf_cluster *c = x->c;
	const struct hf_function_spec *fs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	char (*dumps)[65] = hf_xcalloc(n ? n : 1, sizeof(*dumps));
	size_t i, first = n;

	(void)err;
	for (i = 0; i < n; i++) {
		if (t[i].node->role != HF_ROLE_PRIMARY)
			continue;
		queue_list(ch, &calls[i]);
		queue_dump(&calls[i]);
	}
	hf_fanout(c, calls, n, c->timeout_ms);
	for (i = 0; i < n; i++) {
		char live[65];

		if (t[i].node->role != HF_ROLE_PRIMARY)
			continue;
		if (calls[i].status) {
			hf_target_set(&t[i], calls[i].status, "%s", calls[i].error);
			continue;
		}
		dump_sha(calls[i].replies[1], dumps[i]);
		if (first == n)
			first = i;
		code_sha(library_code(calls[i].replies[0], fs->library), live);
		if (strcmp(live, fs->code_sha256))
			hf_target_add_diff(&t[i], "function library '%s': %s%.12s -> %.12s (%s)",
					   fs->library, strcmp(live, "absent") ? "code " : "",
					   live, fs->code_sha256, fs->file);
	}
	for (i = 0; first < n && i < n; i++)
		if (t[i].ndiff && dumps[i][0] && strcmp(dumps[i], dumps[first]))
			hf_target_add_diff(&t[i], "drift: this shard's libraries differ from shard %d's "
					   "before the change (dump %.12s vs %.12s)",
					   t[first].node->shard + 1, dumps[i], dumps[first]);
	free(dumps);
	hf_kind_calls_free(calls, n);
	return 0;
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	const struct hf_function_spec *fs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++)
		queue_dump(&calls[i]);
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		const struct hf_reply *d = calls[i].replies[0];
		char sha[65];
		char *b64;
		json_t *blob;

		if (t[i].status)
			continue;
		if (!d || d->type != HF_REPLY_STRING) {
			hf_target_set(&t[i], HF_ERR, "%s:%d: FUNCTION DUMP gave no payload",
				      t[i].node->host, t[i].node->port);
			continue;
		}
		dump_sha(d, sha);
		b64 = hf_base64_encode(d->str, d->len);
		blob = json_pack("{s:s,s:s,s:s}", "dump", b64, "dump_sha256", sha, "code_sha256",
				 fs->code_sha256);
		free(t[i].step->before);
		t[i].step->before = json_dumps(blob, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(blob);
		free(b64);
	}
	hf_kind_calls_free(calls, n);
}

/* FUNCTION LOAD REPLACE, and in the same pipeline FUNCTION DUMP: the
 * after-state is the whole dump, so that a rollback can tell libraries
 * someone else loaded since from the ones this change left. */
static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	const struct hf_function_spec *fs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++) {
		char rec[80];

		/* A resumed run must load the code it captured for. */
		if (t[i].step->before &&
		    strcmp(blob_str(t[i].step->before, "code_sha256", rec, sizeof(rec)), fs->code_sha256)) {
			hf_target_set(&t[i], HF_ERR, "the code of '%s' changed since this run started "
				      "(sha256 %.12s, the run has %.12s); start a new run", fs->file,
				      fs->code_sha256, rec);
			continue;
		}
		hf_call_push(&calls[i], "FUNCTION", "LOAD", "REPLACE", NULL);
		hf_argv_pushb(&calls[i].cmds[0], fs->code, fs->codelen);
		queue_dump(&calls[i]);
	}
	hf_fanout(c, calls, n, c->timeout_ms);
	for (i = 0; i < n; i++) {
		const struct hf_reply *load = calls[i].replies[0];
		char sha[65];
		json_t *blob;

		if (t[i].status || !calls[i].ncmds)
			continue;
		if (calls[i].status) {
			hf_target_set(&t[i], calls[i].status, "%s", calls[i].error);
			continue;
		}
		if (!load || load->type == HF_REPLY_ERROR) {
			hf_target_set(&t[i], HF_ERR, "%s:%d: FUNCTION LOAD: %s", t[i].node->host,
				      t[i].node->port, load && load->str ? load->str : "no reply");
			continue;
		}
		dump_sha(calls[i].replies[1], sha);
		blob = json_pack("{s:s,s:s}", "dump_sha256", sha, "code_sha256", fs->code_sha256);
		free(t[i].step->after);
		t[i].step->after = json_dumps(blob, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(blob);
	}
	hf_kind_calls_free(calls, n);
}

static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	struct hf_cluster *c = x->c;
	const struct hf_function_spec *fs = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++) {
		queue_list(ch, &calls[i]);
		queue_dump(&calls[i]);
	}
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		char live[65], want[80];

		if (t[i].status)
			continue;
		if (side == HF_SIDE_AFTER) {
			code_sha(library_code(calls[i].replies[0], fs->library), live);
			t[i].match = !strcmp(live, fs->code_sha256);
		} else {
			dump_sha(calls[i].replies[1], live);
			t[i].match = !strcmp(live, blob_str(t[i].step->before, "dump_sha256", want,
							    sizeof(want)));
		}
	}
	hf_kind_calls_free(calls, n);
}

static void read_live(const struct hf_change *ch, struct hf_call *call)
{
	queue_dump(call);
	queue_list(ch, call);
}

/* The whole FUNCTION DUMP against the dumps recorded before and after.
 * Without a recorded after-state (a crash between the load and its
 * record), the node holds what this change left when the library's code
 * is this change's code. */
static enum hf_held classify(const struct hf_change *ch, const struct hf_step *s,
			     const struct hf_call *live, char *why, size_t len)
{
	const struct hf_function_spec *fs = ch->spec;
	char now[65], before[80], after[80];

	dump_sha(live->replies[0], now);
	blob_str(s->before, "dump_sha256", before, sizeof(before));
	blob_str(s->after, "dump_sha256", after, sizeof(after));
	if (!strcmp(now, before))
		return HF_HELD_BEFORE;
	if (!after[0]) {
		char code[65];

		code_sha(library_code(live->replies[1], fs->library), code);
		if (!strcmp(code, fs->code_sha256))
			snprintf(after, sizeof(after), "%s", now);
	}
	if (!strcmp(now, after))
		return HF_HELD_AFTER;
	snprintf(why, len, "function libraries changed since the hotfix (dump %.12s; before %.12s, "
		 "hotfix left %.12s), left as they are", now, before, after[0] ? after : "unknown");
	return HF_HELD_OTHER;
}

/* FUNCTION RESTORE of the recorded dump, FLUSH: exactly the libraries of
 * before, whatever is there now. */
static int restore(const struct hf_change *ch, const struct hf_step *s, const struct hf_call *live,
		   enum hf_held held, unsigned flags, struct hf_call *call, char *why, size_t len)
{
	int force = !!(flags & HF_REVERT_FORCE);
	json_t *blob = json_loads(s->before, 0, NULL);
	const char *b64 = blob ? json_string_value(json_object_get(blob, "dump")) : NULL;
	unsigned char *payload = NULL;
	struct hf_argv *a;
	size_t plen = 0;
	int rc = 0;

	(void)ch, (void)live;
	if (held == HF_HELD_OTHER && !force)
		goto out;   /* one dump: nothing of it is the hotfix's alone */
	if (!b64 || hf_base64_decode(b64, &payload, &plen)) {
		snprintf(why, len, "the journal's FUNCTION DUMP of %s:%d is unreadable", call->node->host,
			 call->node->port);
		rc = -1;
		goto out;
	}
	a = hf_call_cmd(call);
	hf_argv_push(a, "FUNCTION");
	hf_argv_push(a, "RESTORE");
	hf_argv_pushb(a, (const char *)payload, plen);
	hf_argv_push(a, "FLUSH");
out:
	free(payload);
	json_decref(blob);
	return rc;
}

const struct hf_change_kind hf_kind_function = {
	.name = "function",
	.flags = HF_KIND_ON_PRIMARY,
	.parse = parse,
	.free = spec_free,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = hf_kind_revert,
	.read = read_live,
	.classify = classify,
	.restore = restore,
};
