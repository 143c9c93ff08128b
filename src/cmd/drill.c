/* hotfix drill FILE --mirror D [--faults SPEC] [--load PROFILE]: rehearse
 * a hotfix on a mirror (a sandbox directory) under load with acknowledged-
 * write checking, with faults on a schedule, and check that the rollback
 * gave everything back: the fingerprint (engine/redis/fingerprint.h)
 * before and after, the load's lost writes, the replicas' convergence,
 * the guard's expectations. The load, the apply and the rollback are child
 * processes of this one (hotfix itself), so the driver can be killed. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/journal.h"
#include "core/manifest.h"
#include "engine/redis/fingerprint.h"
#include "engine/redis/redis.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

static const char usage[] =
	"usage: hotfix drill FILE --mirror DIR [--faults SPEC] [--load PROFILE] [--json]\n"
	"Rehearses hotfix FILE on the mirror in DIR (a sandbox directory): starts\n"
	"'hotfix load --check-writes' against it, takes its fingerprint (every\n"
	"node's configuration, functions and ACLs, every key with its expiry, the\n"
	"slot owners), applies the hotfix, injects the faults of SPEC on their\n"
	"schedule, rolls back, waits for every replica to converge, takes the\n"
	"fingerprint again and stops the load. It passes when the fingerprints are\n"
	"equal, no acknowledged write was lost, the replicas converged and every\n"
	"guard expectation held. Exit 0 when it passed, 1 when not; the outcome is\n"
	"journaled against the manifest's SHA-256.\n"
	"  SPEC            FAULT[:FOR][@TIME],...: TIME after the apply started (\"2s\",\n"
	"                  \"500ms\"; default 500ms, then each 1s after the previous),\n"
	"                  or during the rollback: \"rollback\", \"rollback+1s\"\n"
	"    kill          SIGKILL a replica, then start it again\n"
	"    hang          SIGSTOP a primary for 1s (or FOR), then SIGCONT\n"
	"    failover      CLUSTER FAILOVER on a replica of the last shard\n"
	"    partition     cut a replica off from every other node and from this\n"
	"                  host for 3s (or FOR; its network link down), then heal\n"
	"                  it while the driver goes on; at \"rollback\" the cut is\n"
	"                  made before the rollback starts. The mirror must have\n"
	"                  been made with --netns\n"
	"    crash-controller  SIGKILL the apply (the rollback); then 'resume --rollback'\n"
	"    regression    DEBUG SLEEP on every node until the apply ends: the\n"
	"                  guard must roll back (apply exit 3)\n"
	"    null          nothing: the guard must not roll back\n"
	"  --load PROFILE  passed to 'hotfix load --profile'\n";

enum fault_kind { F_KILL, F_HANG, F_FAILOVER, F_PARTITION, F_CRASH, F_REGRESSION, F_NULL,
		  F_TAMPER };
static const char *const fault_names[] = { "kill", "hang", "failover", "partition",
					   "crash-controller", "regression", "null", "tamper" };

#define MAX_FAULTS 16
#define HANG_MS 1000
#define PARTITION_MS 3000     /* longer than the sandbox's cluster-node-timeout */
#define APPLY_MAX_MS 600000L
#define CONVERGE_MS 60000L

struct fault {
	enum fault_kind kind;
	int phase;             /* 0: during the apply, 1: during the rollback */
	long long at_ms;       /* after the apply (the rollback) started */
	long long for_ms;      /* hang, partition: how long (":DURATION") */
	long long took_ms;
	int ok;                /* the outcome is what the drill expects */
	int done;              /* injected */
	int cut_port;          /* partition: the node cut off, until healed */
	long long cut_at, heal_at;
	char outcome[2600];
};

struct drill {
	struct hf_ctx *ctx;
	const char *file, *mirror, *profile;
	char *seed;            /* the mirror's seed URI (may hold its password) */
	struct hf_uri uri;
	char *dir;             /* state/drill: the children's logs */
	char exe[4096];
	struct fault faults[MAX_FAULTS];
	int nfaults;
	int load_pid;
	int driver_pid;        /* the apply, then the rollback, while it runs */
	int driver_rc;         /* its exit status once it ended, -1: killed */
	int driver_killed;     /* crash-controller killed it */
	int phase;             /* 0: the apply, 1: the rollback */
	int apply_rc;          /* exit status of the apply */
	int crashed;           /* crash-controller killed the apply */
	int rollback_rc;       /* of the last rollback command */
	char rollback_why[256];
	struct hf_fingerprint *before, *after;
	struct hf_buf diffs, roles;
	size_t ndiffs;
	int fp_failed;
	char fp_error[2100];
	int converged;
	char converge_why[2100];
	long long acked, lost, unverifiable;
	int load_ok;
	char manifest_sha[65];
	int passed;
};

/* ---- the fault schedule ------------------------------------------- */

/* "rollback" or "rollback+DURATION" ('at' after the '@'), or a DURATION. */
static int parse_at(struct fault *f, const char *at)
{
	if (!strncmp(at, "rollback", 8)) {
		f->phase = 1;
		f->at_ms = 0;
		at += 8;
		if (!*at)
			return 0;
		if (*at++ != '+')
			return -1;
	}
	return hf_duration_parse(at, &f->at_ms) || f->at_ms > APPLY_MAX_MS ? -1 : 0;
}

/* "hang:2s", "partition:12s": how long; only these two last. */
static int parse_for(struct fault *f, const char *arg, struct hf_err *err)
{
	f->for_ms = f->kind == F_HANG ? HANG_MS : PARTITION_MS;
	if (!arg)
		return 0;
	if (f->kind != F_HANG && f->kind != F_PARTITION)
		return hf_err_set(err, HF_EINVAL, "--faults: only hang and partition take a "
				  "duration (':%s' after '%s')", arg, fault_names[f->kind]);
	if (hf_duration_parse(arg, &f->for_ms) || f->for_ms <= 0 || f->for_ms > APPLY_MAX_MS)
		return hf_err_set(err, HF_EINVAL, "--faults: '%s' after ':' is no duration (\"3s\", "
				  "\"500ms\")", arg);
	return 0;
}

static int parse_one(struct drill *d, char *item, long long next[2], struct hf_err *err)
{
	struct fault *f = &d->faults[d->nfaults];
	char *at = strchr(item, '@'), *arg;
	int k, n = (int)(sizeof(fault_names) / sizeof(*fault_names));

	if (at)
		*at++ = 0;
	if ((arg = strchr(item, ':')))
		*arg++ = 0;
	for (k = 0; k < n; k++)
		if (!strcmp(item, fault_names[k]))
			break;
	if (k == F_TAMPER && !getenv("HOTFIX_DRILL_TEST_FAULTS"))
		k = n;
	if (k == n)
		return hf_err_set(err, HF_EINVAL, "--faults: unknown fault '%s' (kill, hang, "
				  "failover, partition, crash-controller, regression, null)", item);
	f->kind = (enum fault_kind)k;
	if (parse_for(f, arg, err))
		return HF_EINVAL;
	f->at_ms = next[0];
	if (at && parse_at(f, at))
		return hf_err_set(err, HF_EINVAL, "--faults: '%s' after '@' is no time (\"2s\", "
				  "\"500ms\", \"rollback\", \"rollback+1s\")", at);
	if (f->phase && (k == F_REGRESSION || k == F_NULL))
		return hf_err_set(err, HF_EINVAL, "--faults: '%s' is about the guard, which only "
				  "watches the apply: not '@%s'", item, at);
	next[f->phase] = f->at_ms + 1000;
	d->nfaults++;
	return 0;
}

static int parse_spec(struct drill *d, const char *spec, struct hf_err *err)
{
	char *copy = hf_xstrdup(spec), *item, *save = NULL;
	long long next[2] = { 500, 0 };
	int rc = 0;

	for (item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save)) {
		if (d->nfaults == MAX_FAULTS)
			rc = hf_err_set(err, HF_EINVAL, "--faults: more than %d faults", MAX_FAULTS);
		else
			rc = parse_one(d, item, next, err);
	}
	free(copy);
	if (!rc && !d->nfaults)
		rc = hf_err_set(err, HF_EINVAL, "--faults: no fault in '%s'", spec);
	for (int i = 0; i < d->nfaults && !rc; i++)
		if (d->faults[i].kind == F_PARTITION && !hf_sandbox_netns(d->mirror))
			rc = hf_err_set(err, HF_EINVAL, "--faults: 'partition' needs a mirror whose "
					"nodes have network namespaces of their own ('hotfix stage "
					"--netns' or 'hotfix sandbox up --netns'); %s has none",
					d->mirror);
	return rc;
}

/* ---- children ------------------------------------------------------ */

/* Start hotfix itself with 'args' (up to a NULL), output into log NAME. */
static int child(struct drill *d, const char *name, const char **args, char *why, size_t len)
{
	const char *argv[24] = { d->exe, "--state", d->ctx->state_dir };
	char *log = hf_xasprintf("%s/%s.log", d->dir, name);
	int n = 3, pid;

	while (*args && n < 22)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = hf_proc_start((char *const *)argv, log, why, len);
	free(log);
	return pid;
}

/* An ended child's exit status from hf_proc_ended()'s 'how': 128+N for
 * signal N. */
static int status_of(const char *how)
{
	int v;

	if (!*how)
		return 0;
	if (sscanf(how, "exit status %d", &v) == 1)
		return v;
	if (sscanf(how, "signal %d", &v) == 1)
		return 128 + v;
	return -1;
}

/* Wait for child 'pid' up to 'max_ms'; its exit status, or -1 when it had
 * to be killed. */
static int child_wait(int pid, long max_ms)
{
	long long deadline = hf_mono_ms() + max_ms;
	char how[64];

	while (!hf_proc_ended(pid, how, sizeof(how))) {
		if (hf_mono_ms() >= deadline) {
			hf_proc_kill(pid);
			return -1;
		}
		hf_sleep_ms(20);
	}
	return status_of(how);
}

/* Has the driver (apply or rollback) ended? Its status in d->driver_rc
 * once it has. */
static int driver_ended(struct drill *d)
{
	char how[64];

	if (d->driver_pid > 0 && hf_proc_ended(d->driver_pid, how, sizeof(how))) {
		d->driver_rc = status_of(how);
		d->driver_pid = 0;
	}
	return d->driver_pid <= 0;
}

static int child_run(struct drill *d, const char *name, const char **args, long max_ms)
{
	char why[256];
	int pid = child(d, name, args, why, sizeof(why));

	return pid < 0 ? -1 : child_wait(pid, max_ms);
}

/* ---- the load ------------------------------------------------------ */

static int load_start(struct drill *d, struct hf_err *err)
{
	const char *args[] = { "--json", "load", "--check-writes", "--rate", "500", "--seconds",
			       "3600", d->profile ? "--profile" : NULL, d->profile, NULL };
	char why[256];

	d->load_pid = child(d, "load", args, why, sizeof(why));
	if (d->load_pid < 0)
		return hf_err_set(err, HF_ERR, "drill: cannot start the load: %s", why);
	hf_sleep_ms(500);
	if (!hf_proc_alive(d->load_pid))
		return hf_err_set(err, HF_ERR, "drill: the load ended at once (see %s/load.log)",
				  d->dir);
	return 0;
}

/* Stop the load (SIGTERM: it reads every acknowledged key back) and take
 * its verdict from the JSON document it prints. */
static void load_stop(struct drill *d)
{
	char *path = hf_xasprintf("%s/load.log", d->dir), *text = NULL, *brace;
	FILE *fp;
	json_t *doc;
	long size;

	kill(d->load_pid, SIGTERM);
	child_wait(d->load_pid, 120000);
	fp = fopen(path, "r");
	if (fp && !fseek(fp, 0, SEEK_END) && (size = ftell(fp)) > 0 && !fseek(fp, 0, SEEK_SET)) {
		text = hf_xcalloc((size_t)size + 1, 1);
		if (fread(text, 1, (size_t)size, fp) != (size_t)size)
			text[0] = 0;
	}
	if (fp)
		fclose(fp);
	brace = text ? strstr(text, "{\n") : NULL;
	doc = brace ? json_loads(brace, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	if (doc && json_is_integer(json_object_get(doc, "lost"))) {
		d->load_ok = 1;
		d->acked = json_integer_value(json_object_get(doc, "acked_writes"));
		d->lost = json_integer_value(json_object_get(doc, "lost"));
		d->unverifiable = json_integer_value(json_object_get(doc, "unverifiable"));
	}
	json_decref(doc);
	free(text);
	free(path);
}

/* ---- faults -------------------------------------------------------- */

/* A node of the mirror: the first UP one of 'role' in shard 'shard' (-1:
 * the last shard). 0 with 'host', '*port', '*pid'; -1 when there is none. */
static int pick(struct drill *d, const char *role, int shard, char host[48], int *port, int *pid)
{
	struct hf_sandbox_node *nodes = NULL;
	struct hf_err e = {0};
	size_t i, n = 0;
	int last = 0, rc = -1;

	if (hf_sandbox_status(d->mirror, &nodes, &n, NULL, NULL, &e))
		return -1;
	for (i = 0; i < n; i++)
		last = nodes[i].shard > last ? nodes[i].shard : last;
	for (i = 0; i < n && rc; i++)
		if (nodes[i].state == HF_SANDBOX_NODE_UP && !strcmp(nodes[i].role, role) &&
		    nodes[i].shard == (shard < 0 ? last : shard) && nodes[i].pid > 0) {
			memcpy(host, nodes[i].host, sizeof(nodes[i].host));
			*port = nodes[i].port;
			*pid = nodes[i].pid;
			rc = 0;
		}
	free(nodes);
	return rc;
}

/* One command (its words up to a NULL) to the mirror's node 'host':'port'. */
static int node_cmd(struct drill *d, const char *host, int port, const char *const *words,
		    struct hf_reply **out)
{
	struct hf_argv a = {0};
	struct hf_err e = {0};
	int rc;

	while (*words)
		hf_argv_push(&a, *words++);
	rc = hf_redis_command(&d->uri, host, port, d->ctx->timeout_ms, &a, out, &e);
	hf_argv_release(&a);
	return rc;
}

static void fault_kill(struct drill *d, struct fault *f)
{
	struct hf_err e = {0};
	char host[48];
	int port, pid, i;

	if (pick(d, "replica", 0, host, &port, &pid)) {
		snprintf(f->outcome, sizeof(f->outcome), "no replica to kill");
		return;
	}
	kill(pid, SIGKILL);
	for (i = 0; i < 100 && hf_proc_alive(pid); i++)
		hf_sleep_ms(20);
	hf_sleep_ms(300);
	if (hf_sandbox_node_restart(d->mirror, port, 10000, &e)) {
		snprintf(f->outcome, sizeof(f->outcome), "killed %s:%d (pid %d); restart "
			 "failed: %s", host, port, pid, e.msg);
		return;
	}
	snprintf(f->outcome, sizeof(f->outcome), "killed %s:%d (pid %d), restarted", host, port,
		 pid);
	f->ok = 1;
}

static void heal(struct drill *d, int all);

/* Set by SIGINT or SIGTERM: heal every cut at once, inject nothing more.
 * The signal's default comes back, so a second one ends the drill. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
	signal(sig, SIG_DFL);
}

/* Wait 'ms', healing partitions when due; less when interrupted. */
static void wait_healing(struct drill *d, long long ms)
{
	long long until = hf_mono_ms() + ms;

	while (!interrupted && hf_mono_ms() < until) {
		heal(d, 0);
		hf_sleep_ms(10);
	}
}

static void fault_hang(struct drill *d, struct fault *f)
{
	char host[48];
	int port, pid;

	if (pick(d, "primary", 0, host, &port, &pid)) {
		snprintf(f->outcome, sizeof(f->outcome), "no primary to hang");
		return;
	}
	kill(pid, SIGSTOP);
	wait_healing(d, f->for_ms);
	kill(pid, SIGCONT);
	snprintf(f->outcome, sizeof(f->outcome), "%s:%d stopped for %lld ms, continued", host, port,
		 f->for_ms);
	f->ok = 1;
}

static int is_primary(struct drill *d, const char *host, int port)
{
	struct hf_reply *r = NULL;
	int yes = !node_cmd(d, host, port, (const char *[]){ "ROLE", NULL }, &r) && r && r->type == HF_REPLY_ARRAY &&
		  r->nelem && r->elem[0]->str && !strcmp(r->elem[0]->str, "master");

	hf_reply_free(r);
	return yes;
}

static void fault_failover(struct drill *d, struct fault *f)
{
	struct hf_reply *r = NULL;
	char host[48];
	int port, pid, i;

	if (pick(d, "replica", -1, host, &port, &pid)) {
		snprintf(f->outcome, sizeof(f->outcome), "no replica to fail over to");
		return;
	}
	if (node_cmd(d, host, port, (const char *[]){ "CLUSTER", "FAILOVER", NULL }, &r) || !r ||
	    r->type == HF_REPLY_ERROR) {
		snprintf(f->outcome, sizeof(f->outcome), "CLUSTER FAILOVER on %s:%d: %s",
			 host, port, r && r->str ? r->str : "no answer");
		hf_reply_free(r);
		return;
	}
	hf_reply_free(r);
	for (i = 0; i < 150 && !is_primary(d, host, port); i++)
		hf_sleep_ms(100);
	f->ok = is_primary(d, host, port);
	snprintf(f->outcome, sizeof(f->outcome), "%s:%d %s", host, port,
		 f->ok ? "took its shard over" : "did not become a primary in 15 s");
}

/* Cut a replica of the first shard off; heal() joins it again
 * its 'for_ms' later, while the driver goes on. */
static void fault_partition(struct drill *d, struct fault *f)
{
	struct hf_err e = {0};
	char host[48];
	int port, pid;

	if (pick(d, "replica", 0, host, &port, &pid)) {
		snprintf(f->outcome, sizeof(f->outcome), "no replica to cut off");
		return;
	}
	if (hf_sandbox_node_partition(d->mirror, port, 1, &e)) {
		snprintf(f->outcome, sizeof(f->outcome), "could not cut %s:%d off: %s", host, port,
			 e.msg);
		return;
	}
	f->cut_port = port;
	f->cut_at = hf_mono_ms();
	f->heal_at = f->cut_at + f->for_ms;
	snprintf(f->outcome, sizeof(f->outcome), "%s:%d cut off", host, port);
}

/* Heal the partitions that are due ('all': every one, once its time has
 * come). */
static void heal(struct drill *d, int all)
{
	int i;

	for (i = 0; i < d->nfaults; i++) {
		struct fault *f = &d->faults[i];
		struct hf_err e = {0};
		size_t len = strlen(f->outcome);

		if (!f->cut_port || (!all && !interrupted && hf_mono_ms() < f->heal_at))
			continue;
		while (!interrupted && hf_mono_ms() < f->heal_at)
			hf_sleep_ms(10);
		f->ok = !hf_sandbox_node_partition(d->mirror, f->cut_port, 0, &e);
		f->took_ms = hf_mono_ms() - f->cut_at;
		snprintf(f->outcome + len, sizeof(f->outcome) - len, f->ok ? " for %lld ms, healed" :
			 " for %lld ms; healing it failed: %s", f->took_ms, e.msg);
		f->cut_port = 0;
	}
}

static void fault_crash(struct drill *d, struct fault *f)
{
	if (d->driver_pid <= 0) {
		snprintf(f->outcome, sizeof(f->outcome), "the %s had ended (exit %d) before the kill",
			 d->phase ? "rollback" : "apply", d->driver_rc);
		f->ok = 1;
		return;
	}
	hf_proc_kill(d->driver_pid);
	d->driver_pid = 0;
	d->driver_rc = 137;
	d->driver_killed = 1;
	snprintf(f->outcome, sizeof(f->outcome), "the %s killed (SIGKILL)",
		 d->phase ? "rollback" : "apply");
	f->ok = 1;
}

/* DEBUG SLEEP 0.2 on every node, again and again, until the apply ends. */
static void fault_regression(struct drill *d, struct fault *f)
{
	struct hf_cluster *c = NULL;
	struct hf_call *calls;
	struct hf_err e = {0};
	size_t i, rounds = 0;
	long long deadline = hf_mono_ms() + APPLY_MAX_MS;

	if (hf_cluster_discover(&d->uri, d->ctx->timeout_ms, HF_CONVERGE_DEFAULT_MS, &c, &e)) {
		snprintf(f->outcome, sizeof(f->outcome), "cannot reach the mirror: %s", e.msg);
		return;
	}
	calls = hf_xcalloc(c->nnodes, sizeof(*calls));
	while (!driver_ended(d) && hf_mono_ms() < deadline) {
		for (i = 0; i < c->nnodes; i++) {
			calls[i].node = &c->nodes[i];
			hf_call_push(&calls[i], "DEBUG", "SLEEP", "0.2", NULL);
		}
		hf_fanout(c, calls, c->nnodes, 2000);
		hf_calls_release(calls, c->nnodes);
		rounds++;
		hf_sleep_ms(50);
		driver_ended(d);
	}
	snprintf(f->outcome, sizeof(f->outcome), "%zu rounds of DEBUG SLEEP 0.2 on %zu nodes",
		 rounds, c->nnodes);
	free(calls);
	hf_cluster_free(c);
}

/* SET 'key' 'value' on the mirror, following one MOVED. */
static int set_key(struct drill *d, const char *host, int port, const char *key,
		   const char *value)
{
	struct hf_reply *r = NULL;
	int rc = node_cmd(d, host, port, (const char *[]){ "SET", key, value, NULL }, &r), moved;
	char to[48];

	if (!rc && r && r->type == HF_REPLY_ERROR && r->str &&
	    sscanf(r->str, "MOVED %*d %47[^:]:%d", to, &moved) == 2) {
		hf_reply_free(r);
		r = NULL;
		rc = node_cmd(d, to, moved, (const char *[]){ "SET", key, value, NULL }, &r);
	}
	rc = rc || !r || r->type == HF_REPLY_ERROR;
	hf_reply_free(r);
	return rc;
}

/* Test-only (HOTFIX_DRILL_TEST_FAULTS): changes the rollback cannot know
 * of, for the fingerprint to find: hz 10 -> 11 on the mirror's first
 * primary, and a key "drill:tamper" written. */
static void fault_tamper(struct drill *d, struct fault *f)
{
	struct hf_reply *r = NULL;
	char host[48];
	int port, pid;

	if (pick(d, "primary", 0, host, &port, &pid) ||
	    node_cmd(d, host, port, (const char *[]){ "CONFIG", "SET", "hz", "11", NULL }, &r) != 0 ||
	    set_key(d, host, port, "drill:tamper", "1")) {
		hf_reply_free(r);
		snprintf(f->outcome, sizeof(f->outcome), "could not tamper with the mirror");
		return;
	}
	hf_reply_free(r);
	snprintf(f->outcome, sizeof(f->outcome), "hz set to 11 on %s:%d, key drill:tamper "
		 "written", host, port);
	f->ok = 1;
}

/* ---- the run ------------------------------------------------------- */

static void inject(struct drill *d, struct fault *f)
{
	long long t = hf_mono_ms();

	switch (f->kind) {
	case F_KILL: fault_kill(d, f); break;
	case F_HANG: fault_hang(d, f); break;
	case F_FAILOVER: fault_failover(d, f); break;
	case F_PARTITION: fault_partition(d, f); break;
	case F_CRASH: fault_crash(d, f); break;
	case F_REGRESSION: fault_regression(d, f); break;
	case F_TAMPER: fault_tamper(d, f); break;
	case F_NULL: snprintf(f->outcome, sizeof(f->outcome), "nothing injected"); break;
	}
	f->took_ms = hf_mono_ms() - t;
	f->done = 1;
}

/* The guard's expectations, once the apply has ended. */
static void expectations(struct drill *d)
{
	int i;

	for (i = 0; i < d->nfaults; i++) {
		struct fault *f = &d->faults[i];
		size_t len = strlen(f->outcome);

		if (f->kind == F_REGRESSION) {
			f->ok = d->apply_rc == 3;
			snprintf(f->outcome + len, sizeof(f->outcome) - len, "; the guard %s (apply exit %d)",
				 f->ok ? "rolled back, as expected" : "did NOT roll back", d->apply_rc);
		} else if (f->kind == F_NULL) {
			f->ok = d->apply_rc != 3;
			snprintf(f->outcome + len, sizeof(f->outcome) - len, "; the guard %s (apply exit %d)",
				 f->ok ? "did not trip, as expected" : "tripped", d->apply_rc);
		}
	}
}

/* Wait for the driver to end (killed at 'deadline'), healing partitions
 * on their schedule meanwhile. */
static void driver_wait(struct drill *d, long long deadline)
{
	while (!driver_ended(d)) {
		if (hf_mono_ms() >= deadline) {
			hf_proc_kill(d->driver_pid);
			d->driver_pid = 0;
			d->driver_rc = -1;
			return;
		}
		heal(d, 0);
		hf_sleep_ms(20);
	}
}

/* Start the driver of 'phase' (hotfix with 'args', output into log
 * 'name'), inject the faults of that phase on their schedule, wait for it
 * to end. Its exit status in d->driver_rc; -1 when it could not start. */
static int run_phase(struct drill *d, int phase, const char *name, const char **args)
{
	char why[256];
	long long t0;
	int i;

	d->phase = phase;
	d->driver_killed = 0;
	d->driver_rc = -1;
	/* A partition at 0 is in place before the driver starts: it would
	 * often be done before the cut otherwise (a config rollback takes
	 * milliseconds). */
	for (i = 0; i < d->nfaults; i++)
		if (d->faults[i].phase == phase && d->faults[i].kind == F_PARTITION &&
		    !d->faults[i].at_ms)
			inject(d, &d->faults[i]);
	t0 = hf_mono_ms();
	d->driver_pid = child(d, name, args, why, sizeof(why));
	if (d->driver_pid < 0) {
		heal(d, 1);
		return -1;
	}
	for (i = 0; i < d->nfaults; i++) {
		if (d->faults[i].phase != phase || d->faults[i].done)
			continue;
		while (!interrupted && hf_mono_ms() < t0 + d->faults[i].at_ms) {
			driver_ended(d);
			heal(d, 0);
			hf_sleep_ms(10);
		}
		driver_ended(d);
		if (interrupted)
			snprintf(d->faults[i].outcome, sizeof(d->faults[i].outcome),
				 "not injected: the drill was interrupted");
		else
			inject(d, &d->faults[i]);
	}
	driver_wait(d, t0 + APPLY_MAX_MS);
	heal(d, 1);
	return 0;
}

/* Apply as a child, with the faults on their schedule, then wait for it. */
static int run_apply(struct drill *d, struct hf_err *err)
{
	const char *args[] = { "apply", d->file, "--yes", NULL };

	if (run_phase(d, 0, "apply", args))
		return hf_err_set(err, HF_ERR, "drill: the apply could not run (see %s/apply.log)",
				  d->dir);
	d->apply_rc = d->driver_rc;
	d->crashed = d->driver_killed;
	expectations(d);
	return 0;
}

/* Roll back as a child, with the faults of the rollback on their schedule;
 * when they stopped it (a killed driver, a node down), once more after
 * them, as an operator would. */
static void roll_back(struct drill *d)
{
	const char *resume[] = { "resume", "last", "--rollback", NULL };
	const char *rollback[] = { "rollback", "last", NULL };
	size_t len;

	run_phase(d, 1, "rollback", d->crashed ? resume : rollback);
	d->rollback_rc = d->driver_rc;
	snprintf(d->rollback_why, sizeof(d->rollback_why), "%s exit %d%s",
		 d->crashed ? "resume --rollback" : "rollback", d->rollback_rc,
		 d->driver_killed ? " (killed by the drill)" : "");
	if (!d->rollback_rc)
		return;
	d->rollback_rc = child_run(d, "rollback-again", d->driver_killed ? resume : rollback,
				   APPLY_MAX_MS);
	len = strlen(d->rollback_why);
	snprintf(d->rollback_why + len, sizeof(d->rollback_why) - len, ", then %s exit %d",
		 d->driver_killed ? "resume --rollback" : "rollback", d->rollback_rc);
}

/* Everything after the apply: rollback, convergence, fingerprint, load. */
static void settle(struct drill *d)
{
	struct hf_err e = {0};

	roll_back(d);
	if (hf_replicas_converged(&d->uri, d->ctx->timeout_ms, CONVERGE_MS, &e))
		snprintf(d->converge_why, sizeof(d->converge_why), "%s", e.msg);
	else
		d->converged = 1;
	if (hf_fingerprint_take(&d->uri, d->ctx->timeout_ms, &d->after, &e)) {
		d->fp_failed = 1;
		snprintf(d->fp_error, sizeof(d->fp_error), "after: %s", e.msg);
	} else {
		d->ndiffs = hf_fingerprint_diff(d->before, d->after, 20, &d->diffs, &d->roles);
	}
	load_stop(d);
	d->passed = !interrupted && !d->fp_failed && !d->ndiffs && d->converged && d->load_ok &&
		    !d->lost &&
		    d->rollback_rc == 0;
	for (int i = 0; i < d->nfaults; i++)
		d->passed = d->passed && d->faults[i].ok;
}

/* ---- output -------------------------------------------------------- */

static json_t *lines_json(const struct hf_buf *b)
{
	json_t *a = json_array();
	char *copy = hf_xstrdup(b->s ? b->s : ""), *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(a, json_string(line));
	free(copy);
	return a;
}

static json_t *drill_json(const struct drill *d)
{
	json_t *doc = json_object(), *faults = json_array(), *fp;
	int i;

	json_object_set_new(doc, "passed", json_boolean(d->passed));
	for (i = 0; i < d->nfaults; i++)
		json_array_append_new(faults, json_pack("{s:s,s:s,s:I,s:s,s:b,s:I}", "fault",
			fault_names[d->faults[i].kind], "during",
			d->faults[i].phase ? "rollback" : "apply", "at_ms", (json_int_t)d->faults[i].at_ms,
			"outcome", d->faults[i].outcome, "ok", d->faults[i].ok,
			"ms", (json_int_t)d->faults[i].took_ms));
	json_object_set_new(doc, "faults", faults);
	json_object_set_new(doc, "apply_exit", json_integer(d->apply_rc));
	json_object_set_new(doc, "rollback", json_pack("{s:s,s:s,s:i}", "how",
		d->crashed ? "resume --rollback" : "rollback", "detail", d->rollback_why,
		"exit", d->rollback_rc));
	fp = json_pack("{s:b,s:o,s:o}", "equal", !d->fp_failed && !d->ndiffs,
		       "differences", lines_json(&d->diffs), "role_changes", lines_json(&d->roles));
	if (d->fp_failed)
		json_object_set_new(fp, "error", json_string(d->fp_error));
	json_object_set_new(doc, "fingerprint", fp);
	json_object_set_new(doc, "writes", json_pack("{s:b,s:I,s:I,s:I}", "checked", d->load_ok,
		"acknowledged", (json_int_t)d->acked, "lost", (json_int_t)d->lost,
		"unverifiable", (json_int_t)d->unverifiable));
	json_object_set_new(doc, "converged", json_boolean(d->converged));
	if (!d->converged)
		json_object_set_new(doc, "converge_error", json_string(d->converge_why));
	json_object_set_new(doc, "manifest_sha256", json_string(d->manifest_sha));
	return doc;
}

static void print_indented(const struct hf_buf *b)
{
	char *copy = hf_xstrdup(b->s ? b->s : ""), *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("              %s\n", line);
	free(copy);
}

static void print_text(const struct drill *d)
{
	int i;

	printf("%-17s %-8s %8s %8s  %s\n", "FAULT", "DURING", "AT", "TOOK", "OUTCOME");
	for (i = 0; i < d->nfaults; i++) {
		const struct fault *f = &d->faults[i];
		char at[32], took[32];

		hf_fmt_duration(f->at_ms, at, sizeof(at));
		hf_fmt_duration(f->took_ms, took, sizeof(took));
		printf("%-17s %-8s %8s %8s  %s%s\n", fault_names[f->kind],
		       f->phase ? "rollback" : "apply", at, took,
		       f->ok ? "" : "FAILED: ", f->outcome);
	}
	printf("apply         exit %d%s\n", d->apply_rc, d->crashed ? " (killed by the drill)" : "");
	printf("rollback      %s\n", d->rollback_why);
	if (d->fp_failed)
		printf("fingerprint   not taken: %s\n", d->fp_error);
	else if (!d->ndiffs)
		printf("fingerprint   equal before and after\n");
	else
		printf("fingerprint   %zu difference(s):\n", d->ndiffs);
	print_indented(&d->diffs);
	if (d->roles.len) {
		printf("roles         changed (no difference):\n");
		print_indented(&d->roles);
	}
	if (d->load_ok)
		printf("writes        %lld acknowledged, %lld lost, %lld unverifiable\n", d->acked,
		       d->lost, d->unverifiable);
	else
		printf("writes        not checked: the load gave no verdict (see %s/load.log)\n", d->dir);
	printf("replicas      %s%s\n", d->converged ? "converged" : "did not converge: ",
	       d->converged ? "" : d->converge_why);
	printf("drill         %s\n", d->passed ? "PASSED" : "FAILED");
}

static void record(struct drill *d)
{
	struct hf_journal *j = NULL;
	struct hf_err e = {0};
	json_t *doc = drill_json(d);
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (d->ctx->json)
		puts(text);
	else if (!d->ctx->quiet)
		print_text(d);
	if (hf_cmd_journal(d->ctx, &j, &e) ||
	    hf_journal_drill_add(j, d->manifest_sha, hf_wall_ms(), d->passed, text, &e))
		fprintf(stderr, "hotfix: warning: the drill was not journaled: %s\n", e.msg);
	hf_journal_close(j);
	free(text);
	json_decref(doc);
}

/* ---- the command --------------------------------------------------- */

/* The manifest's SHA-256, the mirror's seed, the children's directory. */
static int prepare(struct drill *d, struct hf_err *err)
{
	struct hf_manifest *m = NULL;
	ssize_t n;
	int rc = hf_manifest_load(d->file, &m, err);

	if (rc)
		return rc;
	snprintf(d->manifest_sha, sizeof(d->manifest_sha), "%s", m->sha256);
	hf_manifest_free(m);
	/* A drill stopped hard (kill -9) may have left a node cut off. */
	rc = hf_sandbox_heal(d->mirror, err);
	if (!rc)
		rc = hf_sandbox_seed(d->mirror, &d->seed, err);
	if (rc)
		return rc;
	rc = hf_uri_parse(d->seed, &d->uri, err);
	if (rc)
		return rc;
	/* The children find the mirror there, never on their command line
	 * (where a password would show in ps). */
	setenv("HOTFIX_CLUSTER", d->seed, 1);
	n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
	if (n <= 0)
		return hf_err_set(err, HF_ERR, "drill: cannot find the hotfix binary: %s",
				  strerror(errno));
	d->exe[n] = 0;
	d->dir = hf_xasprintf("%s/drill", d->ctx->state_dir ? d->ctx->state_dir : ".");
	return hf_mkdir_p(d->dir, 0700, err);
}

/* The drill proper, once prepared: 0 with d->passed set, or an error
 * that stopped it (the load is stopped either way). */
static int drill_run(struct drill *d, struct hf_err *err)
{
	int rc = load_start(d, err);

	if (rc)
		return rc;
	rc = hf_replicas_converged(&d->uri, d->ctx->timeout_ms, CONVERGE_MS, err);
	if (!rc)
		rc = hf_fingerprint_take(&d->uri, d->ctx->timeout_ms, &d->before, err);
	if (!rc)
		rc = run_apply(d, err);
	if (rc) {
		load_stop(d);
		return rc;
	}
	settle(d);
	record(d);
	return 0;
}

static void drill_release(struct drill *d)
{
	hf_fingerprint_free(d->before);
	hf_fingerprint_free(d->after);
	hf_buf_release(&d->diffs);
	hf_buf_release(&d->roles);
	hf_uri_release(&d->uri);
	free(d->seed);
	free(d->dir);
}

int cmd_drill(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	struct drill d = { .ctx = ctx, .load_pid = -1, .driver_pid = -1 };
	const char *pos[1], *spec = "null";
	const struct hf_opt opts[] = {
		{ "mirror", &d.mirror, NULL }, { "faults", &spec, NULL },
		{ "load", &d.profile, NULL }, { 0 },
	};
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	if (npos != 1 || !d.mirror)
		return hf_err_set(err, HF_EINVAL, "usage: hotfix drill FILE --mirror DIR "
				  "[--faults SPEC] [--load PROFILE]");
	d.file = pos[0];
	rc = parse_spec(&d, spec, err);
	if (!rc)
		rc = prepare(&d, err);
	if (!rc) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		rc = drill_run(&d, err);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
	}
	if (!rc && interrupted)
		rc = hf_err_set(err, HF_ERR, "the drill was interrupted (its partitions healed)");
	if (!rc && !d.passed)
		rc = hf_err_set(err, HF_ERR, "the drill failed");
	drill_release(&d);
	return rc;
}
