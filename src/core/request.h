/* Requests to the process that drives a run (pause, continue, abort): the
 * one place that decides whether one can be left in the journal, shared by
 * the command line and the HTTP server. Nothing here acts on a cluster. */
#ifndef HF_CORE_REQUEST_H
#define HF_CORE_REQUEST_H

#include "util/err.h"

struct hf_journal;
struct hf_run;

/* Who asks: 'who' names them in the run's events and the audit record's
 * why ("alice (operator; key ...; os user bob)", "hotfix serve (operator
 * token ab12cd34) for ::1"); 'actor' and 'role' (NULL: none) are the audit
 * record's fields: the policy's identity and role, or serve's token. */
struct hf_requester {
	const char *who;
	const char *actor;
	const char *role;
};

/* Ask the process driving run 'run_id' ('last' = the newest) to 'what'
 * ("pause", "continue" or "abort"), on behalf of 'by': the request and an
 * audit record naming 'by' are committed to the journal, and the driver
 * acts on them at its next step or tick of a bake.
 *
 * '*run' is set to the run as loaded (caller frees with hf_run_free())
 * whenever the run exists, whatever is returned.
 *
 * Returns 0 when the request is in the journal; 1 when no live process
 * drives the run, so nothing was written (the caller decides: roll back
 * here, start a driver, or refuse); HF_EINVAL when there is no such run;
 * HF_EREFUSED when the run is finished (nothing to do); another negative
 * code on a journal error. */
int hf_request_run(struct hf_journal *j, const char *run_id, const char *what,
		   const struct hf_requester *by, struct hf_run **run, struct hf_err *err);

#endif
