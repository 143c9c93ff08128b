/* What every subcommand gets, and the small option parser they share.
 * src/cmd/ is the only place that prints for people. */
#ifndef HF_CMD_H
#define HF_CMD_H

#include <stdio.h>

#include "util/err.h"

struct hf_ctx {
	const char *state_dir;   /* --state, $HOTFIX_STATE, $XDG_STATE_HOME/hotfix */
	int json;                /* --json */
	int quiet;               /* -q */
	int verbose;             /* -v */
	long timeout_ms;         /* --timeout, per fan-out to the nodes */
	long converge_ms;        /* --converge-timeout, for the nodes to agree on the topology */
	/* Governance (src/cmd/govern.c): */
	const char *policy_file;   /* --policy, else $HOTFIX_POLICY */
	const char *sign_key_file; /* --sign-key, else $HOTFIX_SIGN_KEY */
	struct hf_policy *policy;  /* loaded and validated by main; NULL: no policy */
	/* How rediss:// clusters are reached (hf_cmd_tls_setup()): */
	const char *tls_cacert;  /* --tls-cacert FILE */
	const char *tls_cert;    /* --tls-cert FILE */
	const char *tls_key;     /* --tls-key FILE */
	const char *tls_sni;     /* --tls-sni NAME */
	int insecure;            /* --insecure: no verification of the servers */
	const char *password_file; /* --password-file FILE (hf_cmd_credentials_setup()) */
};

struct hf_opt {
	const char *name;        /* long name without dashes, e.g. "shards" */
	const char **value;      /* set for options that take a value */
	int *flag;               /* set to 1 for options that take none */
};

/* Parse 'argv' (argv[0] is the subcommand): "--name value", "--name=value"
 * and flags from 'opts' (terminated by a zeroed entry); everything else is
 * positional and lands in 'pos' (at most 'maxpos'). "--help" sets '*help'.
 * Returns 0, or HF_EINVAL with 'err' naming the bad option. */
int hf_opts_parse(int argc, char **argv, const struct hf_opt *opts,
		  const char **pos, int maxpos, int *npos, int *help,
		  struct hf_err *err);

/* Parse a non-negative integer option value; HF_EINVAL on junk. */
int hf_opt_int(const char *name, const char *s, long *out, struct hf_err *err);

typedef int (*hf_cmd_fn)(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);

int cmd_sandbox(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_cluster(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_validate(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_plan(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_apply(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_rollback(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_resume(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_abort(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_pause(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_continue(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_status(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_history(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_load(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_stage(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_serve(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_report(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_flag(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_approve(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_policy(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_drill(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);
int cmd_audit(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err);

/* ---- shared by the subcommands (src/cmd/common.c) ---------------------- */

/* The values of a repeatable option, in the order given. */
#define HF_OPTLIST_MAX 16
struct hf_optlist {
	const char *v[HF_OPTLIST_MAX];
	int n;
};
/* Take every "--name VALUE" and "--name=VALUE" out of 'argv' (argv[0] is
 * the subcommand) into 'list', before hf_opts_parse() sees the rest.
 * HF_EINVAL for a missing value or more than HF_OPTLIST_MAX. */
int hf_opts_take_list(int *argc, char **argv, const char *name, struct hf_optlist *list,
		      struct hf_err *err);

struct hf_uri;
struct hf_journal;
struct hf_plan;
struct hf_manifest;
struct hf_cluster;

/* Settle the TLS settings of every rediss:// URI this process parses:
 * the --tls-* options, else $HOTFIX_TLS_*, else (when neither names a
 * file) the files of a TLS sandbox in the state directory. Warns on
 * stderr about --insecure. */
void hf_cmd_tls_setup(struct hf_ctx *ctx);
/* The password of URIs without one: --password-file, else
 * $HOTFIX_PASSWORD_FILE (then hf_uri_parse() takes HOTFIX_PASSWORD,
 * REDISCLI_AUTH). HF_EINVAL when the file cannot be used; warns on stderr
 * about a file its group or others may read. */
int hf_cmd_credentials_setup(struct hf_ctx *ctx, struct hf_err *err);
/* Warn once on stderr when a URI on the command line (--cluster's, or an
 * argument redis[s]://...) holds a password: it shows in ps. */
void hf_cmd_uri_warning(int argc, char **argv);
/* The cluster to talk to: 'given' (--cluster), else $HOTFIX_CLUSTER, else
 * the sandbox in the state directory when it is up. */
int hf_cmd_cluster_uri(struct hf_ctx *ctx, const char *given, struct hf_uri *out,
		       struct hf_err *err);
/* Load manifest 'file', refuse what needs no cluster to refuse, find the
 * cluster ('cluster', $HOTFIX_CLUSTER or the sandbox) and build the plan.
 * On failure the caller still frees what was set: hf_plan_free(*p),
 * hf_cluster_free(*c), hf_manifest_free(*m). */
int hf_cmd_plan_load(struct hf_ctx *ctx, const char *file, const char *cluster,
		     struct hf_manifest **m, struct hf_cluster **c, struct hf_plan **p,
		     struct hf_err *err);
/* The same for manifest 'm' already parsed. */
int hf_cmd_plan_for(struct hf_ctx *ctx, const struct hf_manifest *m, const char *cluster,
		    struct hf_cluster **c, struct hf_plan **p, struct hf_err *err);
/* What 'hotfix apply' and the commands that run a generated manifest
 * ('flag set', 'flag kill') are given. */
struct hf_apply_opts {
	const char *cluster;     /* --cluster, or NULL */
	const char *notify;      /* --notify URL, or NULL */
	const char *otlp;        /* --otlp URL, or NULL */
	int yes;                 /* --yes: no confirmation asked */
	struct hf_optlist approvals;  /* --approval FILE, repeatable */
	int emergency;           /* --emergency: windows and approvals overridden */
	const char *reason;      /* --reason TEXT (required with --emergency) */
	int kill_switch;         /* 'flag kill': an operator's, without approvals
				  * or windows (a kill switch never waits) */
	const char *require_drill;    /* --require-drill DURATION, or NULL */
	long long require_drill_ms;   /* its value */
	int gated;               /* 'hotfix apply': the policy's require_drill holds
				  * (flag set and kill make manifests no drill rehearses) */
};
/* Plan manifest 'm' (owned: freed here) on the cluster, show the plan, ask
 * (unless o->yes; refused off a terminal), then run it to its end as
 * 'hotfix apply' does, printing its progress. Returns what the rollout
 * returns (main maps it to the exit code). */
int hf_cmd_apply_manifest(struct hf_ctx *ctx, struct hf_manifest *m,
			  const struct hf_apply_opts *o, struct hf_err *err);
/* The manifest 'hotfix flag set FILE' applies (FILE checked strictly:
 * FILE:LINE:COL, exit 2), the same for whoever makes it: what 'hotfix
 * approve --flag-set FILE' signs. Caller frees '*m'. */
int hf_cmd_flag_set_manifest(const char *file, struct hf_manifest **m, struct hf_err *err);
int hf_cmd_journal(struct hf_ctx *ctx, struct hf_journal **out, struct hf_err *err);
/* Print a plan for people. */
void hf_cmd_print_plan(FILE *f, const struct hf_manifest *m, const struct hf_cluster *c,
		       const struct hf_plan *p);
/* The plan as JSON text; caller frees. */
char *hf_cmd_plan_json(const struct hf_manifest *m, const struct hf_cluster *c,
		       const struct hf_plan *p);
/* An hf_event_fn that prints rollout events for people ('ud' is the ctx):
 * to stdout, or to stderr with --json; nothing with -q. */
void hf_cmd_print_event(void *ud, const char *kind, const char *msg);
struct hf_rollout;
/* The live view: on a terminal (and without --json or -q), events scroll
 * above a block that is redrawn after each one: the waves' progress, a
 * table of the nodes with their step and health, the guard's last verdict.
 * Elsewhere one line per event, as hf_cmd_print_event. 'ud' is a struct
 * hf_live. */
struct hf_live {
	struct hf_ctx *ctx;
	struct hf_rollout *r;
	int lines;              /* lines of the block on screen */
	char verdict[512];      /* the guard's last word */
	int keyline;            /* a key progress line is on screen, below the block */
	long long keys_t0;      /* when the current batch of keys started (ms) */
	long long keys_last;    /* keys looked at, at the last report */
};
void hf_cmd_live_event(void *ud, const char *kind, const char *msg);
/* A data run's key counts and journal bytes as JSON, or NULL when it has
 * no key records. */
struct json_t;
struct json_t *hf_cmd_keys_json(struct hf_journal *j, const char *run_id);
/* A long apply's progress (data: keys), on one line under the live view;
 * only on a terminal, and not with -q or --json. */
void hf_cmd_live_progress(void *ud, long long scanned, long long changed, double done);
/* Print the progress block of 'r' to 'f': the waves' progress, at most
 * 'max_rows' nodes (0: all; -1: no node table), the guard's last verdict.
 * Returns the lines printed. */
int hf_cmd_print_progress(FILE *f, struct hf_rollout *r, const char *verdict, int max_rows);
/* The run's outcome as one JSON document on stdout. */
void hf_cmd_print_run_json(struct hf_rollout *r, int rc, const struct hf_err *err);
#include <signal.h>
void hf_cmd_catch_signals(volatile sig_atomic_t **flag);

/* Notifications of a run (src/cmd/notify.c): the notifier and the
 * callbacks it is chained in front of; with --otlp, the spans of the run
 * sent through the same notifier. */
struct hf_notifier;
struct hf_rollout;
struct hf_cmd_notify {
	struct hf_notifier *n;  /* NULL when nothing is notified */
	void (*event)(void *ud, const char *kind, const char *msg);
	void (*progress)(void *ud, long long scanned, long long changed, double done);
	void *ud;
	struct hf_rollout *r;
	int otlp;               /* the collector's destination, -1: none */
	int waves_sent;         /* the waves whose spans are queued, 1 to this */
};
/* Notify the webhooks of 'r's manifest and 'url' (--notify, may be NULL)
 * about 'r', first with 'phase' and 'text' when 'phase' is not NULL, and
 * export its spans to the OTLP collector at 'otlp' (--otlp, may be NULL)
 * at each wave's end and at the end; the callbacks of 'r' are chained
 * behind the notifier, so set them first. A run without webhooks nor
 * collector is left as it is. HF_EINVAL for a bad 'url' or 'otlp'; when
 * the notifier cannot start, a warning and the run goes on without. */
int hf_cmd_notify_start(struct hf_cmd_notify *cn, struct hf_rollout *r, const char *url,
			const char *otlp, const char *phase, const char *text, struct hf_err *err);
/* HF_EINVAL with 'err' filled when 'otlp' (--otlp, may be NULL) is no
 * http:// or https:// URL, else 0. */
int hf_cmd_otlp_check(const char *otlp, struct hf_err *err);
/* Queue the spans not sent yet (the run's with it once the run is over),
 * send what is left (a bounded wait) and stop; warns on stderr about
 * messages that were not delivered. */
void hf_cmd_notify_finish(struct hf_cmd_notify *cn, struct hf_ctx *ctx);

/* ---- governance: policy, actor, approvals, windows (src/cmd/govern.c) -- */

#include "core/policy.h"
struct hf_plan;
struct hf_rollout;

/* Load and validate the policy of --policy or $HOTFIX_POLICY into
 * ctx->policy (HF_EINVAL with FILE:LINE:COL); nothing without one. */
int hf_cmd_policy_init(struct hf_ctx *ctx, struct hf_err *err);
/* Who acts and what the policy says about it on one cluster. */
struct hf_cmd_govern {
	struct hf_ctx *ctx;
	const struct hf_policy_cluster *pc;   /* the cluster's entry, or NULL */
	const struct hf_policy_identity *id;  /* who signs, or NULL */
	struct hf_policy_actor actor;
	struct hf_key *key;                   /* the signing key (private), or NULL */
	int emergency;                        /* an allowed --emergency */
	int kill_switch;                      /* an operator's 'flag kill' */
	char approvers[256];                  /* who approved, "bob, carol" */
};
/* Identify the actor (--sign-key, $HOTFIX_SIGN_KEY) and check that they
 * may do 'a' on the cluster 'uri' (redacted). Without a policy, 0 and the
 * OS user only. HF_EREFUSED saying why, HF_EINVAL for a bad key file.
 * Release with hf_cmd_govern_release(). */
int hf_cmd_govern(struct hf_ctx *ctx, enum hf_policy_action a, const char *uri,
		  struct hf_cmd_govern *g, struct hf_err *err);
void hf_cmd_govern_release(struct hf_cmd_govern *g);
/* Everything an apply of plan 'p' needs beyond the role: --emergency by a
 * role the cluster allows (with --reason), or the kill switch ('flag kill',
 * with --reason), else the approvals required, each verified against the plan recomputed now. HF_EREFUSED listing each
 * approval and why it does not count; nothing is journaled or changed. */
int hf_cmd_govern_apply(struct hf_cmd_govern *g, const struct hf_manifest *m,
			const struct hf_cluster *c, const struct hf_plan *p,
			const struct hf_apply_opts *o, struct hf_err *err);
/* Record the actor (and the emergency, the approvals) in run 'r''s events
 * and hand the windows to its driver (not for an emergency). */
void hf_cmd_govern_run(struct hf_cmd_govern *g, struct hf_rollout *r, const char *what,
		       const char *reason);
/* For a command on recorded run 'r' (rollback, resume): hf_cmd_govern()
 * on the run's cluster, then hf_cmd_govern_run() with 'what'. */
int hf_cmd_govern_open(struct hf_ctx *ctx, struct hf_rollout *r, enum hf_policy_action a,
		       const char *what, struct hf_cmd_govern *g, struct hf_err *err);
/* pause, continue, abort of run 'name': the role of an operator, recorded
 * in the run's events, before the request is written; 'g' gets the actor
 * (the OS user only without a policy: 0). Release with
 * hf_cmd_govern_release(). */
int hf_cmd_govern_request(struct hf_ctx *ctx, struct hf_journal *j, const char *name,
			  struct hf_cmd_govern *g, struct hf_err *err);
/* When the window opens that run paused with 'note' waits for: 1 and
 * 'out' ("2026-12-01T08:00:00Z"), '*ms' (unix ms); 0 when the note is no
 * window's or says no time. */
int hf_cmd_window_until(const char *note, char out[32], long long *ms);
/* What the policy asks of an apply on 'c', for 'hotfix plan' (people). */
void hf_cmd_print_policy(FILE *f, struct hf_ctx *ctx, const struct hf_cluster *c,
			 const struct hf_plan *p, const struct hf_manifest *m);
/* The same, with the plan digest and topology hash, as JSON members of 'doc'. */
struct json_t;
void hf_cmd_policy_json(struct json_t *doc, struct hf_ctx *ctx, const struct hf_cluster *c,
			const struct hf_plan *p);
/* ---- governance (src/cmd/audit.c): the cluster's lease and the audit
 * record of every command that changes a cluster ------------------------ */
struct hf_lease;
struct hf_cmd_gov {
	struct hf_journal *j;       /* borrowed */
	const char *action;         /* "apply", "rollback", "resume", "abort" */
	const char *manifest_sha256; /* before the run exists (a refusal) */
	char *plan_digest;          /* owned; NULL when there is no plan */
	struct hf_lease *lease;
	long long seq;              /* the action's audit record, 0 before */
	const struct hf_cmd_govern *who; /* the policy's actor and approvals, or NULL */
};
/* Take the cluster's lease through 'uri' for run 'run_id' ("" before the
 * run exists). Refused (HF_EREFUSED, exit 5) naming the holder when
 * another holds it; a refusal is audited too. */
int hf_cmd_gov_lease(struct hf_ctx *ctx, struct hf_cmd_gov *g, const struct hf_uri *uri,
		     const char *run_id, struct hf_err *err);
/* Before the first change of run 'r': the lease (taken now unless it is
 * held already, then bound to the run) and the audit record "started";
 * both handed to the rollout. Nothing may change when this fails. */
int hf_cmd_gov_start(struct hf_ctx *ctx, struct hf_cmd_gov *g, struct hf_rollout *r,
		     const char *why, struct hf_err *err);
/* At the command's end: the outcome record (from 'rc' and the run's
 * state), a signed checkpoint, its witness in the cluster, and the lease
 * given up. 'r' may be NULL. */
void hf_cmd_gov_end(struct hf_cmd_gov *g, struct hf_rollout *r, int rc, const struct hf_err *err);
/* Who holds the cluster's lease: JSON (state free|held|unknown), or a
 * line for people. */
struct json_t *hf_cmd_lease_json(struct hf_ctx *ctx, const struct hf_uri *uri);
void hf_cmd_print_lease(FILE *f, struct hf_ctx *ctx, const struct hf_uri *uri);

/* The drill gate (src/cmd/gate.c). The newest drill of a manifest: */
struct hf_cmd_drill {
	int found, passed;
	long long ts_ms, age_ms;      /* when (unix ms), how long ago */
	struct json_t *doc;           /* its JSON document ('hotfix drill --json'), or NULL */
};
/* The newest drill of manifest 'sha256' into 'd' (found 0 when there is
 * none, or no journal: nothing is created). Release with
 * hf_cmd_drill_release(). */
int hf_cmd_drill_newest(struct hf_ctx *ctx, const char *sha256, struct hf_cmd_drill *d,
			struct hf_err *err);
void hf_cmd_drill_release(struct hf_cmd_drill *d);
struct hf_cmd_gate {
	long long bound_ms;           /* the stricter bound; 0: no gate */
	char source[400];             /* "--require-drill 24h", "policy P (cluster 'M'): require_drill 24h" */
	char skipped[500];            /* the policy's bound an emergency skipped, or "" */
	char age[32];                 /* the passed drill's age, once checked */
};
struct hf_policy_cluster;
/* The gate on cluster entry 'pc' (NULL: none) and the command line's
 * 'cli' (NULL: none) of 'cli_ms': the shorter bound; the policy's is left
 * out, named in 'skipped', when 'skip_by' ("the emergency override") says so. */
void hf_cmd_gate_bound(const struct hf_ctx *ctx, const struct hf_policy_cluster *pc,
		       const char *cli, long long cli_ms, const char *skip_by, struct hf_cmd_gate *g);
/* 0 when drill 'd' of manifest 'sha256' passes gate 'g', else HF_EREFUSED
 * with why in 'err'. */
int hf_cmd_gate_check(const struct hf_cmd_gate *g, const struct hf_cmd_drill *d,
		      const char *sha256, struct hf_err *err);
/* The gate of an apply of 'm' by 'g' (after hf_cmd_govern_apply()) with
 * options 'o': 0, or HF_EREFUSED before anything is journaled. */
int hf_cmd_gate_apply(struct hf_ctx *ctx, const struct hf_cmd_govern *g,
		      const struct hf_manifest *m, const struct hf_apply_opts *o,
		      struct hf_cmd_gate *gate, struct hf_err *err);
/* The gate's verdict (or its skipping) as a "drill" event of run 'r'. */
void hf_cmd_gate_record(const struct hf_cmd_gate *gate, struct hf_rollout *r);
/* For 'hotfix plan': the newest drill of 'm' and what the policy's gate on
 * 'c' says now, for people, or as members "drill" and "drill_gate" of 'doc'. */
void hf_cmd_print_drill(FILE *f, struct hf_ctx *ctx, const struct hf_manifest *m,
			const struct hf_cluster *c);
void hf_cmd_drill_json(struct json_t *doc, struct hf_ctx *ctx, const struct hf_manifest *m,
		       const struct hf_cluster *c);

#endif
