/* The 'exec' kind: a change made by commands an operator writes, run per
 * node with /bin/sh -c (issue 15):
 *
 *   - exec:
 *       check: "etcdctl --endpoints {host}:{port} endpoint health"   # optional
 *       capture: "cat /etc/etcd/{labels.name}.conf"
 *       apply: "./set-heartbeat.sh {id} 200"
 *       verify: "./holds.sh {id} {side}"     # exit 0 iff the node is in {side}
 *       revert: "./restore.sh {id}"          # the captured state on stdin
 *       before_primary: "etcdctl move-leader ..."  # optional
 *       timeout: 30s
 *
 * Placeholders (contract, util/tpl.h): {id} {host} {port} {role} {group}
 * {node} {labels.KEY} and, in 'verify' only, {side} ("after" or
 * "before"); each is replaced by its value in single quotes. A word in
 * braces that is no placeholder is refused when the manifest is read;
 * anything else in braces ("${HOME}", awk's "{print $2}") is left to the
 * shell. Secrets
 * come from the environment ($VAR in a template), so the journal, which
 * keeps each command as written, never holds one.
 *
 * capture's stdout is the before-state; verify with {side} before and
 * revert get it on stdin. Each command's exit status, duration and the
 * first line of its output are journaled as an event. Commands run in the
 * manifest's directory. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "engine/exec/exec.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

#define DEFAULT_TIMEOUT_MS 30000LL
#define OUTPUT_MAX (1024 * 1024)

enum tpl { T_CHECK, T_CAPTURE, T_APPLY, T_VERIFY, T_REVERT, T_BEFORE_PRIMARY, T_N };
static const char *const tpl_names[T_N] = { "check", "capture", "apply", "verify", "revert",
					    "before_primary" };

struct exec_spec {
	char *tpl[T_N];        /* NULL: not given (check, before_primary) */
	long long timeout_ms;
	char *dir;             /* the manifest's directory: where commands run */
};

/* ---- templates ------------------------------------------------------ */

static int check_template(struct hf_yaml *y, const struct hf_field *f, int side_ok)
{
	const char *s = fy_node_get_scalar0(f->val);
	size_t at, n;

	if (hf_tpl_bad_word(s, side_ok ? HF_TPL_SIDE : 0, &at, &n))
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos),
				    "'%s': {%.*s} is %s (id, host, port, role, group, node, "
				    "labels.KEY%s)", f->name, (int)n, s + at,
				    n == 4 && !strncmp(s + at, "side", 4) ?
				    "only for 'verify'" : "no placeholder",
				    side_ok ? ", side" : "");
	return 0;
}

/* ---- parse ---------------------------------------------------------- */

static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	struct hf_field f[T_N + 1] = {
		[T_CHECK] = { .name = "check" }, [T_CAPTURE] = { .name = "capture", .required = 1 },
		[T_APPLY] = { .name = "apply", .required = 1 },
		[T_VERIFY] = { .name = "verify", .required = 1 },
		[T_REVERT] = { .name = "revert", .required = 1 },
		[T_BEFORE_PRIMARY] = { .name = "before_primary" }, [T_N] = { .name = "timeout" },
	};
	struct exec_spec *es = hf_xcalloc(1, sizeof(*es));
	char *dir;
	int k, rc;

	(void)m;
	ch->spec = es;
	es->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!fy_node_is_mapping(body->val))
		return hf_yaml_fail(y, body->pos, "'exec' must be a mapping (capture, apply, verify, "
				    "revert, check, before_primary, timeout)");
	rc = hf_yaml_walk(y, body->val, body->pos, "'exec'", f, T_N + 1);
	for (k = 0; !rc && k < T_N; k++)
		if (f[k].seen && !(rc = hf_yaml_text(y, &f[k], &es->tpl[k])))
			rc = check_template(y, &f[k], k == T_VERIFY);
	if (!rc && f[T_N].seen)
		rc = hf_yaml_duration(y, &f[T_N], 1, &es->timeout_ms);
	if (rc)
		return rc;
	dir = hf_yaml_relative(y, ".");
	es->dir = realpath(dir, NULL);
	if (!es->dir)
		es->dir = dir;
	else
		free(dir);
	return 0;
}

static void spec_free(void *spec)
{
	struct exec_spec *es = spec;
	int k;

	for (k = 0; k < T_N; k++)
		free(es->tpl[k]);
	free(es->dir);
	free(es);
}

static void summary(const struct hf_change *ch, struct hf_buf *out)
{
	const struct exec_spec *es = ch->spec;

	hf_buf_printf(out, "apply `%s`", es->tpl[T_APPLY]);
}

/* ---- running -------------------------------------------------------- */

/* One command's outcome. */
struct ran {
	int rc;                /* exit status, -1: did not run or killed */
	char *out;             /* stdout */
	size_t outlen;
	char why[600];         /* for people: what went wrong */
};


/* Run template 'k' of 'es' on target 't' with 'in' on stdin (NULL:
 * nothing), journaled. */
static void run(const struct exec_spec *es, int k, struct hf_kind_ctx *x, struct hf_target *t,
		const char *side, const char *in, struct ran *r)
{
	char *cmd = hf_cluster_render(x->c, t->node, es->tpl[k], side, NULL, HF_TPL_SHELL), line[256];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct hf_proc_io io = { .in = in, .inlen = in ? strlen(in) : 0, .cwd = es->dir,
				 .max = OUTPUT_MAX };
	long long t0 = hf_mono_ms();

	r->rc = hf_proc_exec(argv, es->timeout_ms, &io);
	hf_proc_first_line(io.errlen ? io.err : io.out, 200, line, sizeof(line));
	if (r->rc < 0)
		snprintf(r->why, sizeof(r->why), "%s: %s", tpl_names[k], io.why);
	else
		snprintf(r->why, sizeof(r->why), "%s exited %d%s%s", tpl_names[k], r->rc,
			 line[0] ? ": " : "", line);
	if (x->journal && x->run_id)
		hf_journal_event(x->journal, x->run_id, "exec", "%s on %s: `%s` exit %d in %lld ms%s%s",
				 tpl_names[k], t->node->id, es->tpl[k], r->rc, hf_mono_ms() - t0,
				 line[0] ? ": " : "", line);
	r->out = io.out;
	r->outlen = io.outlen;
	io.out = NULL;
	hf_proc_io_release(&io);
	free(cmd);
}

static void ran_release(struct ran *r)
{
	free(r->out);
	r->out = NULL;
}

/* The captured stdout of step 's' (its before-state), or NULL. Caller frees. */
static char *before_of(const struct hf_step *s)
{
	json_t *doc = s->before ? json_loads(s->before, 0, NULL) : NULL;
	const char *v = json_string_value(json_object_get(doc, "stdout"));
	char *out = v ? hf_xstrdup(v) : NULL;

	json_decref(doc);
	return out;
}

/* ---- the operations ------------------------------------------------- */

/* Plan: 'check' must pass on every node (a refusal before anything
 * changes); each node's diff is the command apply will run. */
static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n,
		struct hf_err *err)
{
	const struct exec_spec *es = ch->spec;
	size_t i;

	for (i = 0; i < n; i++) {
		char *cmd;

		if (es->tpl[T_CHECK]) {
			struct ran r = {0};

			run(es, T_CHECK, x, &t[i], NULL, NULL, &r);
			ran_release(&r);
			if (r.rc)
				return hf_err_set(err, HF_EREFUSED, "exec: the check on %s (%s:%d) "
						  "refuses: %s", t[i].node->id, t[i].node->host,
						  t[i].node->port, r.why);
		}
		cmd = hf_cluster_render(x->c, t[i].node, es->tpl[T_APPLY], NULL, NULL, HF_TPL_SHELL);
		hf_target_add_diff(&t[i], "%s%s", t[i].node->role == HF_ROLE_PRIMARY &&
				   es->tpl[T_BEFORE_PRIMARY] ? "(before_primary first) " : "", cmd);
		free(cmd);
	}
	return 0;
}

/* A node that does not accept connections on its port is not acted on:
 * hotfix never changes a node it cannot see (its commands might start a
 * stopped one). */
static int unreachable(struct hf_kind_ctx *x, struct hf_target *t)
{
	if (hf_exec_node_reachable(t->node, x->c->timeout_ms))
		return 0;
	hf_target_set(t, HF_EUNREACH, "%s (%s:%d) does not accept connections", t->node->id,
		      t->node->host, t->node->port);
	return 1;
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n)
{
	const struct exec_spec *es = ch->spec;
	size_t i;

	for (i = 0; i < n; i++) {
		struct ran r = {0};
		json_t *doc;

		if (unreachable(x, &t[i]))
			continue;
		run(es, T_CAPTURE, x, &t[i], NULL, NULL, &r);
		doc = r.rc ? NULL : json_pack("{s:s%}", "stdout", r.out, r.outlen);
		if (r.rc)
			hf_target_set(&t[i], HF_ERR, "%s", r.why);
		else if (!doc)
			hf_target_set(&t[i], HF_ERR, "capture: its output is not UTF-8 text, which "
				      "the journal keeps");
		else {
			free(t[i].step->before);
			t[i].step->before = json_dumps(doc, JSON_COMPACT);
		}
		json_decref(doc);
		ran_release(&r);
	}
}

static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	const struct exec_spec *es = ch->spec;
	size_t i;

	for (i = 0; i < n; i++) {
		struct ran r = {0};

		if (unreachable(x, &t[i]))
			continue;
		if (t[i].node->role == HF_ROLE_PRIMARY && es->tpl[T_BEFORE_PRIMARY]) {
			run(es, T_BEFORE_PRIMARY, x, &t[i], NULL, NULL, &r);
			ran_release(&r);
			if (r.rc) {
				hf_target_set(&t[i], HF_ERR, "%s", r.why);
				continue;
			}
		}
		run(es, T_APPLY, x, &t[i], NULL, NULL, &r);
		if (r.rc)
			hf_target_set(&t[i], r.rc < 0 ? HF_EUNREACH : HF_ERR, "%s", r.why);
		ran_release(&r);
	}
}

/* verify on one target: 1 when the node holds 'side', 0 when not, -1
 * when verify could not run (timeout), with the status set. */
static int holds(const struct exec_spec *es, struct hf_kind_ctx *x, struct hf_target *t,
		 enum hf_side side, int record)
{
	char *in = side == HF_SIDE_BEFORE ? before_of(t->step) : NULL;
	struct ran r = {0};
	json_t *doc;

	run(es, T_VERIFY, x, t, side == HF_SIDE_AFTER ? "after" : "before", in, &r);
	free(in);
	if (r.rc < 0)
		hf_target_set(t, HF_EUNREACH, "%s", r.why);
	if (!r.rc && record && side == HF_SIDE_AFTER && t->step &&
	    (doc = json_pack("{s:s%}", "stdout", r.out, r.outlen))) {
		free(t->step->after);
		t->step->after = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
	}
	ran_release(&r);
	return r.rc < 0 ? -1 : !r.rc;
}

static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	size_t i;

	for (i = 0; i < n; i++)
		t[i].match = holds(ch->spec, x, &t[i], side, 1) == 1;
}

/* Revert where the node holds the hotfix's state; skip where it holds the
 * before-state; a conflict where it holds neither (unless forced). */
static void revert_one(const struct exec_spec *es, struct hf_kind_ctx *x, struct hf_target *t,
		       unsigned flags)
{
	char *in = before_of(t->step);
	struct ran r = {0};
	int after = holds(es, x, t, HF_SIDE_AFTER, 0), before;

	if (after < 0 || !in) {
		if (!in)
			hf_target_set(t, HF_ERR, "revert: the step has no captured before-state");
		free(in);
		return;
	}
	if (!after && (before = holds(es, x, t, HF_SIDE_BEFORE, 0)) != 0) {
		t->match = before == 1;   /* already back, or verify did not run */
		free(in);
		return;
	}
	if (!after && !(flags & HF_REVERT_FORCE)) {
		hf_target_set(t, HF_ECONFLICT, "%s holds neither the hotfix's state nor the "
			      "before-state (verify exits non-zero for both): changed since",
			      t->node->id);
		free(in);
		return;
	}
	run(es, T_REVERT, x, t, NULL, in, &r);
	if (r.rc)
		hf_target_set(t, r.rc < 0 ? HF_EUNREACH : HF_ERR, "%s", r.why);
	else
		t->match = holds(es, x, t, HF_SIDE_BEFORE, 0) == 1;
	if (!r.rc && !t->match && !t->status)
		hf_target_set(t, HF_ERR, "revert exited 0 but verify does not find the before-state");
	ran_release(&r);
	free(in);
}

static void revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, unsigned flags)
{
	size_t i;

	for (i = 0; i < n; i++)
		revert_one(ch->spec, x, &t[i], flags);
}

const struct hf_change_kind hf_kind_exec = {
	.name = "exec",
	.flags = HF_KIND_COMMANDS,
	.parse = parse,
	.free = spec_free,
	.summary = summary,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = revert,
};
