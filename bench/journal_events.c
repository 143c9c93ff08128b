/* A benchmark helper, not part of hotfix: appends events to a run of a
 * journal through hf_journal_event(), as a rollout would, so that the
 * serve benchmark can build a run of 10,000 events and time their delivery
 * without any SQL of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/journal.h"
#include "util/misc.h"

static long long wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* journal_events STATE RUN COUNT [INTERVAL_MS]: append COUNT events of
 * kind 'bench' ("bench event I of COUNT") to RUN, each committed on its
 * own. With INTERVAL_MS, wait that long between them and print "I US" per
 * event, US the wall clock in microseconds once its commit returned. */
int main(int argc, char **argv)
{
	struct hf_journal *j = NULL;
	struct hf_err err = {0};
	long i, count, interval = -1;
	int rc = 0;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: journal_events STATE RUN COUNT [INTERVAL_MS]\n");
		return 2;
	}
	count = atol(argv[3]);
	if (argc == 5)
		interval = atol(argv[4]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (hf_journal_open(argv[1], &j, &err)) {
		fprintf(stderr, "journal_events: %s\n", err.msg);
		return 1;
	}
	for (i = 1; i <= count; i++) {
		rc = hf_journal_event(j, argv[2], "bench", "bench event %ld of %ld", i, count);
		if (rc) {
			fprintf(stderr, "journal_events: cannot append event %ld to run '%s'\n", i, argv[2]);
			goto out;
		}
		if (interval >= 0) {
			printf("%ld %lld\n", i, wall_us());
			hf_sleep_ms(interval);
		}
	}
out:
	hf_journal_close(j);
	return rc ? 1 : 0;
}
