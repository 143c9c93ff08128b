/* The report of a run, for people who were not watching: the problem, the
 * fix, the rollback criteria, the timeline, each wave's expected versus
 * actual metrics, each node's validation and the outcome, as Markdown or
 * as one self-contained HTML file. Built into a buffer from the journal;
 * printing it (or serving it) is the caller's business. */
#ifndef HF_CORE_REPORT_H
#define HF_CORE_REPORT_H

#include <stddef.h>

#include "core/journal.h"
#include "util/buf.h"
#include "util/err.h"

enum hf_report_format { HF_REPORT_MD, HF_REPORT_HTML };

/* The format called 'name' ("md", "markdown", "html") into '*out'.
 * Returns 0, or -1 (and '*out' untouched) when there is none. */
int hf_report_format_parse(const char *name, enum hf_report_format *out);

/* What a report is made of, all borrowed; as the journal gives it. */
struct hf_report_input {
	const struct hf_run *run;
	const struct hf_step *steps;
	size_t nsteps;
	const struct hf_event *events;
	size_t nevents;
	int chain_ok;                         /* the events' hash chain holds */
	const struct hf_guard_sample *samples;
	size_t nsamples;
};

/* Append the report of 'in' to 'out' in format 'f'. Pure: no I/O, never
 * fails. */
void hf_report_build(const struct hf_report_input *in, enum hf_report_format f,
		     struct hf_buf *out /* OUT: the report appended */);

/* Load run 'run_id' ("last" for the newest) with its steps, events and
 * guard samples from 'j', and append its report in format 'f' to 'out'.
 * For the API server as for the command. Returns 0, HF_EINVAL when the
 * run is not in the journal, or another negative code with 'err' filled;
 * 'out' is untouched on failure. */
int hf_report_render(struct hf_journal *j, const char *run_id, enum hf_report_format f,
		     struct hf_buf *out, struct hf_err *err);

/* Append 's' escaped for a Markdown table cell: '|' as "\|", a line break
 * as a space, so that a cell stays one cell of one row. */
void hf_report_md_cell(struct hf_buf *b, const char *s);

/* Append 's' escaped for HTML text and attribute values: & < > " '. */
void hf_report_html_escape(struct hf_buf *b, const char *s);

#endif
