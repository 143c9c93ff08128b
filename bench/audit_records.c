/* The audit trail's own cost: append N records (with a signed checkpoint
 * every HF_AUDIT_CHECKPOINT_EVERY), then one checkpoint alone, then a
 * verification of the whole chain, in a fresh state directory. Prints
 * microseconds per record, per checkpoint and per verified record.
 *
 *   bench_audit_records DIR [N]      (bench/governance.sh runs it) */
#include <stdio.h>
#include <stdlib.h>

#include "core/audit.h"
#include "core/journal.h"
#include "util/misc.h"

int main(int argc, char **argv)
{
	struct hf_journal *j = NULL;
	struct hf_audit_report rep;
	struct hf_err err = {0};
	long n = argc > 2 ? atol(argv[2]) : 500, i;
	long long t0, t_rec, t_cp, t_ver;

	if (argc < 2 || hf_journal_open(argv[1], &j, &err)) {
		fprintf(stderr, "usage: bench_audit_records DIR [N]%s%s\n", err.msg[0] ? ": " : "",
			err.msg);
		return 2;
	}
	t0 = hf_mono_us();
	for (i = 0; i < n; i++) {
		struct hf_audit_rec rec = { .action = "apply", .why = "bench", .cluster = "redis://h:1",
					    .run_id = "r", .outcome = "started" };

		if (hf_audit_record(j, &rec, NULL, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
	}
	t_rec = hf_mono_us() - t0;
	t0 = hf_mono_us();
	for (i = 0; i < 100; i++) {
		struct hf_audit_rec rec = { .action = "pause", .outcome = "requested" };

		hf_audit_record(j, &rec, NULL, &err);
		hf_audit_checkpoint(j, NULL, NULL, &err);
	}
	t_cp = hf_mono_us() - t0;
	t0 = hf_mono_us();
	hf_audit_verify(j, &rep, &err);
	t_ver = hf_mono_us() - t0;
	printf("records %ld  us/record %.0f  us/(record+checkpoint) %.0f  us/verified record %.1f  intact %s\n",
	       n, (double)t_rec / n, (double)t_cp / 100, (double)t_ver / (double)rep.records,
	       rep.why[0] ? "no" : "yes");
	hf_journal_close(j);
	return 0;
}
