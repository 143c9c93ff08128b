/* hotfix: apply urgent fixes to NoSQL clusters, canary first, with a
 * rollback that is always ready. This file only finds the subcommand and
 * maps its result to an exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "engine/redis/redis.h"
#include "util/misc.h"

static const struct {
	const char *name;
	hf_cmd_fn fn;
	const char *help;
} commands[] = {
	{ "sandbox", cmd_sandbox, "up|down|status   local Redis Cluster of real redis-server processes" },
	{ "cluster", cmd_cluster, "show             topology, roles, health and versions of a cluster" },
	{ "validate", cmd_validate, "FILE             check a manifest without touching any cluster" },
	{ "plan", cmd_plan, "FILE             what would change on which node, in which waves" },
	{ "apply", cmd_apply, "FILE             roll a hotfix out wave by wave" },
	{ "rollback", cmd_rollback, "RUN              restore the exact before-state of a run" },
	{ "resume", cmd_resume, "RUN              take over a run whose process died" },
	{ "abort", cmd_abort, "RUN              stop a run and roll it back now" },
	{ "pause", cmd_pause, "RUN              hold a running rollout at the next step" },
	{ "continue", cmd_continue, "RUN              let a paused rollout go on" },
	{ "status", cmd_status, "[RUN]            a run's state, steps and events" },
	{ "history", cmd_history, "                 every run in the journal" },
	{ "serve", cmd_serve, "[--listen H:P]   the journal over HTTP: JSON API, events, pause/abort/rollback" },
	{ "report", cmd_report, "RUN              a run's report: Markdown, or one HTML file (--format html)" },
	{ "approve", cmd_approve, "FILE             sign an approval of a plan (policy: two-person rule)" },
	{ "policy", cmd_policy, "check FILE       validate a governance policy" },
	{ "flag", cmd_flag, "SUBCMD FILE      feature flags in flagd's format: validate, eval, preview" },
	{ "audit", cmd_audit, "verify|export    the tamper-evident audit trail of every action" },
	{ "stage", cmd_stage, "--from URI       local mirror of a cluster: config, functions, users, sampled keys" },
	{ "drill", cmd_drill, "FILE --mirror D  rehearse a hotfix on a mirror under load and faults" },
	{ "load", cmd_load, "--cluster URI    GET/SET load with latency and errors as the client sees them" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: hotfix [--state DIR] [--json] [-q] [-v] [--timeout MS]\n"
		   "              [--converge-timeout DURATION] [--policy FILE] [--sign-key KEY]\n"
		   "              [--tls-cacert FILE] [--tls-cert FILE] [--tls-key FILE]\n"
		   "              [--tls-sni NAME] [--insecure] [--password-file FILE]\n"
		   "              COMMAND [ARGS]\n\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nexit codes: 0 done, 1 runtime error, 2 invalid input (nothing changed),\n"
		   "3 rolled back by the guard, 4 needs a human (conflicts, unreachable nodes),\n"
		   "5 refused (lock held, no confirmation, policy: role, approvals)\n"
		   "'hotfix COMMAND --help' tells more.\n");
}

/* -v: the TLS handshakes of the run, full and resumed. */
static void tls_report(void)
{
	unsigned long full, resumed;

	hf_tls_handshakes(&full, &resumed);
	if (full || resumed)
		fprintf(stderr, "hotfix: TLS handshakes: %lu full, %lu resumed\n", full, resumed);
}

static char *default_state_dir(void)
{
	const char *s = getenv("HOTFIX_STATE");
	const char *x = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	static char buf[4096];

	if (s && *s)
		return (char *)s;
	if (x && *x)
		snprintf(buf, sizeof(buf), "%s/hotfix", x);
	else
		snprintf(buf, sizeof(buf), "%s/.local/state/hotfix", home && *home ? home : "/tmp");
	return buf;
}

/* --converge-timeout: a duration ("10s", "500ms", "0"). */
static int converge_option(const char *s, struct hf_ctx *ctx, struct hf_err *err)
{
	long long ms;

	if (hf_duration_parse(s, &ms) || ms < 0)
		return hf_err_set(err, HF_EINVAL, "option '--converge-timeout': '%s' is not a duration "
				  "(e.g. 10s, 500ms, 0)", s);
	ctx->converge_ms = (long)ms;
	return 0;
}

/* A TLS option at argv['*i'] ("--tls-cacert FILE", "--tls-cacert=FILE",
 * "--insecure"): stored in 'ctx', '*i' moved past its value. Returns 1
 * when it was one, 0 when not, HF_EINVAL without its value. */
static int tls_option(int argc, char **argv, int *i, struct hf_ctx *ctx, struct hf_err *err)
{
	static const char *const names[] = { "--tls-cacert", "--tls-cert", "--tls-key", "--tls-sni" };
	const char **dst[] = { &ctx->tls_cacert, &ctx->tls_cert, &ctx->tls_key, &ctx->tls_sni };
	const char *a = argv[*i];
	size_t k;

	if (!strcmp(a, "--insecure")) {
		ctx->insecure = 1;
		return 1;
	}
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		size_t n = strlen(names[k]);

		if (strncmp(a, names[k], n) || (a[n] && a[n] != '='))
			continue;
		if (a[n] == '=') {
			*dst[k] = a + n + 1;
			return 1;
		}
		if (*i + 1 >= argc)
			return hf_err_set(err, HF_EINVAL, "option '%s' needs a value", a);
		*dst[k] = argv[++*i];
		return 1;
	}
	return 0;
}

/* Take the global options out of argv, wherever they stand. */
static int global_options(int *argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	int i, o = 1, t;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if ((t = tls_option(*argc, argv, &i, ctx, err))) {
			if (t < 0)
				return t;
		} else if (!strcmp(a, "--converge-timeout")) {
			if (i + 1 >= *argc)
				return hf_err_set(err, HF_EINVAL, "option '%s' needs a value", a);
			if (converge_option(argv[++i], ctx, err))
				return HF_EINVAL;
		} else if (!strncmp(a, "--converge-timeout=", 19)) {
			if (converge_option(a + 19, ctx, err))
				return HF_EINVAL;
		} else if (!strcmp(a, "--json")) {
			ctx->json = 1;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			ctx->quiet = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			ctx->verbose = 1;
		} else if (!strcmp(a, "--state") || !strcmp(a, "--timeout")) {
			if (i + 1 >= *argc)
				return hf_err_set(err, HF_EINVAL, "option '%s' needs a value", a);
			if (!strcmp(a, "--state")) {
				ctx->state_dir = argv[++i];
			} else {
				long v;

				if (hf_opt_int("timeout", argv[++i], &v, err))
					return HF_EINVAL;
				ctx->timeout_ms = v > 0 ? v : 1;
			}
		} else if (!strcmp(a, "--policy") || !strcmp(a, "--sign-key")) {
			/* Governance (src/cmd/govern.c). */
			if (i + 1 >= *argc)
				return hf_err_set(err, HF_EINVAL, "option '%s' needs a value", a);
			*(a[2] == 'p' ? &ctx->policy_file : &ctx->sign_key_file) = argv[++i];
		} else if (!strcmp(a, "--password-file")) {
			if (i + 1 >= *argc)
				return hf_err_set(err, HF_EINVAL, "option '%s' needs a value", a);
			ctx->password_file = argv[++i];
		} else if (!strncmp(a, "--password-file=", 16)) {
			ctx->password_file = a + 16;
		} else if (!strncmp(a, "--policy=", 9)) {
			ctx->policy_file = a + 9;
		} else if (!strncmp(a, "--sign-key=", 11)) {
			ctx->sign_key_file = a + 11;
		} else if (!strncmp(a, "--state=", 8)) {
			ctx->state_dir = a + 8;
		} else if (!strncmp(a, "--timeout=", 10)) {
			long v;

			if (hf_opt_int("timeout", a + 10, &v, err))
				return HF_EINVAL;
			ctx->timeout_ms = v > 0 ? v : 1;
		} else {
			argv[o++] = argv[i];
		}
	}
	*argc = o;
	argv[o] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct hf_ctx ctx = { .timeout_ms = 2000, .converge_ms = HF_CONVERGE_DEFAULT_MS };
	struct hf_err err = {0};
	size_t i;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctx.state_dir = default_state_dir();
	if (global_options(&argc, argv, &ctx, &err)) {
		fprintf(stderr, "hotfix: %s\n", err.msg);
		return 2;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	hf_cmd_tls_setup(&ctx);
	hf_cmd_uri_warning(argc, argv);
	if (hf_cmd_credentials_setup(&ctx, &err)) {
		fprintf(stderr, "hotfix: %s\n", err.msg);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("hotfix %s\n", HF_VERSION);
		return 0;
	}
	/* A policy is validated before any command runs (exit 2). */
	if (hf_cmd_policy_init(&ctx, &err)) {
		fprintf(stderr, "hotfix: %s\n", err.msg);
		return 2;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		rc = commands[i].fn(argc - 1, argv + 1, &ctx, &err);
		if (rc && err.msg[0])
			fprintf(stderr, "hotfix: %s\n", err.msg);
		hf_policy_free(ctx.policy);
		if (ctx.verbose)
			tls_report();
		return hf_exit_code(rc);
	}
	fprintf(stderr, "hotfix: '%s' is not a hotfix command; see 'hotfix --help'\n", argv[1]);
	hf_policy_free(ctx.policy);
	return 2;
}
