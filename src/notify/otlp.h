/* OpenTelemetry traces of a run over OTLP/HTTP JSON: the spans of a run
 * (the run as root, its waves, each wave's steps and verdicts) built from
 * the journal as one ExportTraceServiceRequest. Pure: sending is the
 * notifier's business (notify.h). Nothing here prints. */
#ifndef HF_NOTIFY_OTLP_H
#define HF_NOTIFY_OTLP_H

#include <stddef.h>

#include "core/journal.h"

/* What the spans are made of, all borrowed, as the journal gives it. */
struct hf_otlp_input {
	const struct hf_run *run;
	const struct hf_step *steps;
	size_t nsteps;
	const char *const *kinds;        /* per step: its change's kind, or NULL */
	const struct hf_event *events;
	size_t nevents;
};

/* The trace id of run 'run_id': the first 32 hex digits of its SHA-256,
 * so that every process driving the run (a resume too) continues one
 * trace. */
void hf_otlp_trace_id(const char *run_id, char out[33]);

/* The span id of 'what' ("run", "wave/2", "step/7", "verdict/123") in run
 * 'run_id': 16 hex digits of SHA-256, stable across processes. */
void hf_otlp_span_id(const char *run_id, const char *what, char out[17]);

/* The ExportTraceServiceRequest of waves 'from' to 'to' (inclusive; each
 * wave's span, its steps and its verdicts) and, when 'root', of the run
 * span, with resource attribute service.name=hotfix. Caller frees; NULL
 * when there is no span to send. */
char *hf_otlp_export(const struct hf_otlp_input *in, int from, int to, int root);

/* The URL spans are posted to: 'base' + "/v1/traces", unless 'base'
 * already ends with it. Caller frees. */
char *hf_otlp_url(const char *base);

#endif
