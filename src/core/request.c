/* Leaving a pause, continue or abort request for a run's driving process. */
#include "core/request.h"

#include <stddef.h>
#include <stdlib.h>

#include "core/audit.h"
#include "core/journal.h"
#include "util/buf.h"

int hf_request_run(struct hf_journal *j, const char *run_id, const char *what,
		   const struct hf_requester *by, struct hf_run **run, struct hf_err *err)
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
	/* Fail closed: the request stands only once its audit record does. */
	{
		char *why = hf_xasprintf("requested by %s", by->who);
		struct hf_audit_rec rec = { .actor = by->actor, .role = by->role,
					    .action = what, .why = why, .cluster = r->cluster,
					    .run_id = r->id, .manifest_sha256 = r->manifest_sha256,
					    .outcome = "requested" };

		rc = hf_audit_record(j, &rec, NULL, err);
		free(why);
		if (rc)
			return rc;
	}
	rc = hf_journal_request_set(j, r->id, what, err);
	if (!rc)
		hf_audit_checkpoint(j, NULL, NULL, NULL);
	if (rc)
		return rc;
	/* The audit trail is best effort, as everywhere: the request stands. */
	hf_journal_event(j, r->id, "request", "%s requested by %s", what, by->who);
	return 0;
}
