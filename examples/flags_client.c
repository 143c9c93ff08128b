/* An application's use of libhotfix-flags, complete: connect to the
 * cluster, evaluate a boolean flag for one user in a loop, print when
 * its value changes, and stop on Ctrl-C.
 *
 *   cc flags_client.c -o flags_client $(pkg-config --cflags --libs hotfix-flags)
 *   ./flags_client redis://127.0.0.1:7000 new-checkout user-42
 *
 * The loop stands for an application's requests: each evaluation takes no
 * lock and allocates nothing, from as many threads as it likes. */
/* nanosleep() and sigaction() are POSIX, not ISO C. */
#define _POSIX_C_SOURCE 200809L

#include <hotfix/flags.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct hf_flags_options opts;
	struct hf_flags_client *client;
	struct hf_flags_ctx *ctx;
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	char err[256];
	int last = -1;

	if (argc != 4) {
		fprintf(stderr, "usage: %s URI FLAG USER\n", argv[0]);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	hf_flags_options_init(&opts);
	opts.uri = argv[1];
	if (hf_flags_client_new(&opts, &client, err, sizeof(err))) {
		fprintf(stderr, "flags_client: %s\n", err);
		return 1;
	}
	/* The context is built once and reused for every evaluation. */
	ctx = hf_flags_ctx_new();
	hf_flags_ctx_set_string(ctx, "targetingKey", argv[3]);

	/* Not required: evaluations before the first document get the
	 * default with PROVIDER_NOT_READY. */
	if (hf_flags_wait(client, 0, 5000) == 0 && hf_flags_last_error(client, err, sizeof(err)))
		fprintf(stderr, "flags_client: not loaded yet: %s\n", err);

	while (!stop) {
		struct hf_flags_details d;
		int on = hf_flags_bool(client, argv[2], ctx, 0, &d);

		if (on != last) {
			printf("%s is %s for %s (version %lld, %s%s%s)\n", argv[2], on ? "on" : "off",
			       argv[3], d.version, hf_flags_reason_name(d.reason),
			       d.error ? " " : "", d.error ? hf_flags_error_name(d.error) : "");
			fflush(stdout);
			last = on;
		}
		nanosleep(&pause, NULL);
	}
	hf_flags_ctx_free(ctx);
	hf_flags_client_free(client);
	return 0;
}
