/* hotfix report: a run's report (problem, fix, criteria, timeline, metrics
 * per wave, validation, outcome) on stdout, as Markdown or as one HTML
 * file. The report itself is built by core/report.c. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/journal.h"
#include "core/report.h"
#include "util/buf.h"

int cmd_report(int argc, char **argv, struct hf_ctx *ctx, struct hf_err *err)
{
	const char *format = "md", *pos[1];
	const struct hf_opt opts[] = { { "format", &format, NULL }, { 0 } };
	enum hf_report_format f;
	struct hf_journal *j = NULL;
	struct hf_buf out = {0};
	int npos, help, rc;

	rc = hf_opts_parse(argc, argv, opts, pos, 1, &npos, &help, err);
	if (rc)
		return rc;
	if (help) {
		puts("usage: hotfix report RUN [--format md|html]\n"
		     "A run's report: the problem, the fix, the owner, the rollback criteria, the\n"
		     "timeline, each wave's expected versus actual metrics, the validation per node\n"
		     "and the outcome. Markdown on stdout by default; --format html writes one\n"
		     "self-contained HTML file (inline CSS and SVG charts). RUN may be 'last'.");
		return 0;
	}
	if (!npos)
		return hf_err_set(err, HF_EINVAL, "report needs a run; see 'hotfix report --help'");
	if (hf_report_format_parse(format, &f))
		return hf_err_set(err, HF_EINVAL, "option '--format': '%s' is not a format (md, html)",
				  format);
	rc = hf_cmd_journal(ctx, &j, err);
	if (!rc)
		rc = hf_report_render(j, pos[0], f, &out, err);
	if (!rc)
		fputs(out.s ? out.s : "", stdout);
	hf_buf_release(&out);
	hf_journal_close(j);
	return rc;
}
