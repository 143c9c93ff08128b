/* hotfix serve: the journal over HTTP (JSON API, event stream, the same
 * mutations as the command line), until SIGTERM or SIGINT. The server
 * itself is src/serve/; this file reads the options and says where it
 * listens. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "serve/serve.h"
#include "util/misc.h"

static const char usage[] =
	"usage: hotfix serve [--listen HOST:PORT] [--tokens FILE] [--cluster URI] [--state DIR]\n"
	"Serves the journal over HTTP on --listen (default 127.0.0.1:7878; port 0:\n"
	"any free one): GET /api/v1/runs[?state=S], /api/v1/runs/RUN, the event\n"
	"stream /api/v1/events[?run=RUN], /api/v1/cluster (--cluster, $HOTFIX_CLUSTER\n"
	"or the newest run's cluster), and POST /api/v1/runs/RUN/pause|continue|\n"
	"abort|rollback, which leave the same journal requests as the commands.\n"
	"--tokens FILE (mode 0600): one 'viewer TOKEN' or 'operator TOKEN' a line;\n"
	"every request then needs 'Authorization: Bearer TOKEN', and only an\n"
	"operator changes runs. Without --tokens only a loopback address is served.\n"
	"GET / is the web dashboard; with --tokens it asks for a token, which it\n"
	"keeps in a cookie that authorizes reading only (a change needs the header).\n"
	"With --cluster it follows the cluster's flag document (hotfix:flags) and\n"
	"evaluates it over OFREP: POST /ofrep/v1/evaluate/flags[/KEY] with\n"
	"{\"context\": {...}}; a viewer token suffices (evaluation changes nothing).\n"
	"SIGTERM stops it gracefully (exit 0).\n";

int cmd_serve(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *listen = "127.0.0.1:7878", *tokens = NULL, *cluster = NULL, *pos[1];
	const struct hf_opt opts[] = {
		{ "listen", &listen, NULL }, { "tokens", &tokens, NULL },
		{ "cluster", &cluster, NULL }, { 0 }
	};
	struct hf_serve_opts o = {0};
	struct hf_tokens *t = NULL;
	struct hf_serve *s = NULL;
	volatile sig_atomic_t *stop = NULL;
	char exe[PATH_MAX];
	sigset_t block, old;
	ssize_t n;
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 0, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return 0;
	}
	if (tokens && (rc = hf_tokens_load(tokens, &t, err)))
		return rc;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		rc = hf_err_set(err, HF_ERR, "cannot find the hotfix binary (/proc/self/exe)");
		goto out;
	}
	exe[n] = '\0';
	o.state_dir = ctx->state_dir;
	o.listen = listen;
	o.tokens = t;
	o.exe = exe;
	o.cluster = cluster ? cluster : getenv("HOTFIX_CLUSTER");
	o.timeout_ms = ctx->timeout_ms;
	hf_cmd_catch_signals(&stop);
	/* The server's threads inherit a mask without SIGTERM and SIGINT, so
	 * the signals reach this thread, which waits for them. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = hf_serve_start(&o, &s, err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto out;
	if (!ctx->quiet)
		printf("hotfix serve: listening on http://%.*s:%d/ (journal %s, %s)\n",
		       (int)(strrchr(listen, ':') - listen), listen, hf_serve_port(s),
		       ctx->state_dir, t ? "bearer tokens" : "no tokens: loopback only");
	while (!*stop)
		hf_sleep_ms(100);
	if (!ctx->quiet)
		printf("hotfix serve: stopping\n");
	hf_serve_stop(s);
out:
	hf_tokens_free(t);
	return rc;
}
