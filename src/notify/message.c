/* What a notification says: which rollout events are phase changes, and
 * the Slack incoming-webhook JSON of a message. Pure functions over
 * strings, built with jansson; the sending is notify.c. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify.h"
#include "util/buf.h"

/* A section's text holds at most 3000 characters in Slack; the fallback
 * "text" more, but a notification is read at a glance. */
#define SECTION_MAX	2900

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

const char *hf_notify_phase(const char *kind, const char *msg)
{
	if (!kind || !msg)
		return NULL;
	if (!strcmp(kind, "run")) {
		if (starts(msg, "run ") && strstr(msg, " started by "))
			return "started";
		if (starts(msg, "promoted"))
			return "promoted";
		if (starts(msg, "interrupted"))
			return "paused";
		if (strstr(msg, "no node was changed"))
			return "failed";
		return NULL;
	}
	if (!strcmp(kind, "wave"))
		return "wave";
	if (!strcmp(kind, "request")) {
		if (starts(msg, "abort requested"))
			return "aborted";
		if (starts(msg, "paused by request"))
			return "paused";
		if (starts(msg, "continued by request"))
			return "continued";
		return NULL;
	}
	if (!strcmp(kind, "rollback")) {
		if (starts(msg, "rolling back"))
			return "rolling back";
		if (starts(msg, "rolled back") || starts(msg, "nothing to do"))
			return "rolled back";
		if (starts(msg, "rollback incomplete"))
			return "rollback incomplete";
		return NULL;
	}
	if (!strcmp(kind, "error"))
		return "error";
	return NULL;
}

/* Length of the valid UTF-8 sequence at 's' (1 to 4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Append 's' to 'b' as Slack text: '&', '<' and '>' escaped (Slack reads
 * "<url|label>" as a link in the fallback text too), an invalid byte as
 * '?', and no more than 'max' bytes in 'b' ("..." then ends it). */
static void put_text(struct hf_buf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_len(p);

		if (b->len + 8 > max) {
			hf_buf_puts(b, "...");
			return;
		}
		if (!n) {
			hf_buf_puts(b, "?");
			p++;
		} else if (*p == '&') {
			hf_buf_puts(b, "&amp;");
			p++;
		} else if (*p == '<') {
			hf_buf_puts(b, "&lt;");
			p++;
		} else if (*p == '>') {
			hf_buf_puts(b, "&gt;");
			p++;
		} else {
			hf_buf_append(b, (const char *)p, n);
			p += n;
		}
	}
}

/* A block {"type": "section", "text": {"type": "mrkdwn", "text": ...}}
 * of 'label' (bold, may be NULL) and 'body'. */
static json_t *section(const char *label, const char *body)
{
	struct hf_buf b = {0};
	json_t *s;

	if (label)
		hf_buf_printf(&b, "*%s*\n", label);
	put_text(&b, body, SECTION_MAX);
	s = json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type", "mrkdwn", "text",
		      b.s);
	hf_buf_release(&b);
	return s;
}

char *hf_notify_message(const struct hf_notify_msg *m)
{
	struct hf_buf text = {0}, head = {0};
	json_t *doc = NULL, *blocks;
	char *out = NULL;

	hf_buf_printf(&text, "hotfix %s v%ld, run %s: %s: ", m->hotfix ? m->hotfix : "?",
		      m->version, m->run_id ? m->run_id : "?", m->phase);
	put_text(&text, m->text, SECTION_MAX);
	if (m->evidence) {
		hf_buf_puts(&text, "; evidence: ");
		put_text(&text, m->evidence, 2 * SECTION_MAX);
	}
	hf_buf_puts(&head, "*");
	put_text(&head, m->phase, 200);
	hf_buf_puts(&head, "*: hotfix `");
	put_text(&head, m->hotfix ? m->hotfix : "?", 400);
	hf_buf_printf(&head, "` v%ld, run `", m->version);
	put_text(&head, m->run_id ? m->run_id : "?", 600);
	hf_buf_puts(&head, "`\n");
	put_text(&head, m->text, SECTION_MAX);

	blocks = json_array();
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text",
						"type", "mrkdwn", "text", head.s));
	if (m->wave && strcmp(m->phase, "wave"))
		json_array_append_new(blocks, section("wave", m->wave));
	if (m->evidence)
		json_array_append_new(blocks, section("evidence", m->evidence));
	if (m->evidence && m->nodes)
		json_array_append_new(blocks, section("changed nodes", m->nodes));
	if (m->evidence && m->baseline)
		json_array_append_new(blocks, section("baseline", m->baseline));
	if (m->verdict && !m->evidence)
		json_array_append_new(blocks, section("latest verdict", m->verdict));
	doc = json_pack("{s:s, s:o}", "text", text.s, "blocks", blocks);
	if (doc)
		out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	hf_buf_release(&text);
	hf_buf_release(&head);
	return out;
}
