/* Leaving a pause, continue or abort request for a run's driving process. */
#include "core/request.h"

#include <stddef.h>

#include "core/journal.h"

int hf_request_run(struct hf_journal *j, const char *run_id, const char *what, const char *who,
		   struct hf_run **run, struct hf_err *err)
{
	struct hf_run *r = NULL;
	int rc;

	rc = hf_journal_run_load(j, run_id, &r, NULL, NULL, err);
	if (rc)
		return rc;
	*run = r;
	if (!hf_run_state_active(r->state))
		return hf_err_set(err, HF_EREFUSED, "run %s is %s: nothing to %s", r->id,
				  hf_run_state_name(r->state), what);
	if (!hf_journal_driven(j, r->id))
		return 1;
	rc = hf_journal_request_set(j, r->id, what, err);
	if (rc)
		return rc;
	/* The audit trail is best effort, as everywhere: the request stands. */
	hf_journal_event(j, r->id, "request", "%s requested by %s", what, who);
	return 0;
}
