/* Snapshot readiness (S19): a primary's persistence as INFO reports it,
 * and a fresh BGSAVE on every primary before a risky change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/redis.h"
#include "util/buf.h"
#include "util/misc.h"

static long long field_ll(const char *info, const char *name)
{
	char buf[64];

	return hf_info_field(info, name, buf, sizeof(buf)) ? -1 : atoll(buf);
}

static int field_is(const char *info, const char *name, const char *want)
{
	char buf[64];

	return !hf_info_field(info, name, buf, sizeof(buf)) && !strcmp(buf, want);
}

void hf_persistence_read(struct hf_cluster *c, struct hf_persistence *out)
{
	struct hf_call *calls = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*calls));
	size_t i, n = 0, *who = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*who));
	long long now = hf_wall_ms() / 1000;

	memset(out, 0, sizeof(*out) * c->nnodes);
	for (i = 0; i < c->nnodes; i++) {
		if (c->nodes[i].role != HF_ROLE_PRIMARY)
			continue;
		calls[n].node = &c->nodes[i];
		hf_call_push(&calls[n], "INFO", "persistence", NULL);
		who[n++] = i;
	}
	hf_fanout(c, calls, n, c->timeout_ms);
	for (i = 0; i < n; i++) {
		struct hf_persistence *p = &out[who[i]];
		const struct hf_reply *r = calls[i].replies[0];

		if (calls[i].status || !r || r->type != HF_REPLY_STRING)
			continue;
		p->ok = 1;
		p->rdb_ok = field_is(r->str, "rdb_last_bgsave_status", "ok");
		p->rdb_age_s = now - field_ll(r->str, "rdb_last_save_time");
		p->aof_enabled = field_is(r->str, "aof_enabled", "1");
		p->aof_ok = field_is(r->str, "aof_last_write_status", "ok");
		p->bgsave_running = field_is(r->str, "rdb_bgsave_in_progress", "1");
		p->rdb_saves = field_ll(r->str, "rdb_saves");
	}
	hf_calls_release(calls, n);
	free(calls);
	free(who);
}

int hf_snapshot(struct hf_cluster *c, long timeout_ms, struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*calls));
	struct hf_persistence *p = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*p));
	long long *since = hf_xcalloc(c->nnodes ? c->nnodes : 1, sizeof(*since));
	long long deadline = hf_mono_ms() + timeout_ms;
	struct hf_buf why = {0};
	size_t i, n = 0;
	int rc = 0, pending;

	/* Count each primary's saves, then ask for one more. */
	hf_persistence_read(c, p);
	for (i = 0; i < c->nnodes; i++) {
		if (c->nodes[i].role != HF_ROLE_PRIMARY)
			continue;
		since[i] = p[i].rdb_saves;
		calls[n].node = &c->nodes[i];
		hf_call_push(&calls[n++], "BGSAVE", "SCHEDULE", NULL);
	}
	hf_fanout(c, calls, n, c->timeout_ms);
	for (i = 0; i < n; i++) {
		const struct hf_reply *r = calls[i].replies[0];
		size_t k = (size_t)(calls[i].node - c->nodes);

		/* A save already running is as fresh as one we would start: it
		 * was counted when it began, so wait for it to finish. */
		if (!calls[i].status && r && r->type == HF_REPLY_ERROR && strstr(r->str, "in progress")) {
			since[k]--;
			continue;
		}
		if (calls[i].status || !r || r->type == HF_REPLY_ERROR)
			hf_buf_printf(&why, "\n  %s:%d: BGSAVE: %s", calls[i].node->host, calls[i].node->port,
				      calls[i].status ? calls[i].error : r ? r->str : "no reply");
	}
	hf_calls_release(calls, n);
	/* Wait for every primary's save to finish, newer than before. */
	do {
		pending = 0;
		hf_sleep_ms(50);
		hf_persistence_read(c, p);
		for (i = 0; !why.len && i < c->nnodes; i++) {
			if (c->nodes[i].role != HF_ROLE_PRIMARY)
				continue;
			if (!p[i].ok || p[i].bgsave_running || p[i].rdb_saves <= since[i])
				pending = 1;
		}
	} while (!why.len && pending && hf_mono_ms() < deadline);
	for (i = 0; !why.len && i < c->nnodes; i++) {
		if (c->nodes[i].role != HF_ROLE_PRIMARY)
			continue;
		if (!p[i].ok || p[i].bgsave_running || p[i].rdb_saves <= since[i])
			hf_buf_printf(&why, "\n  %s:%d: no finished snapshot within %lds", c->nodes[i].host,
				      c->nodes[i].port, timeout_ms / 1000);
		else if (!p[i].rdb_ok)
			hf_buf_printf(&why, "\n  %s:%d: the snapshot failed (rdb_last_bgsave_status:err; "
				      "see the node's log: disk full, directory not writable?)",
				      c->nodes[i].host, c->nodes[i].port);
	}
	if (why.len)
		rc = hf_err_set(err, HF_EREFUSED, "refused: snapshot: required, but not every primary "
				"has a fresh snapshot:%s", why.s);
	hf_buf_release(&why);
	free(calls);
	free(p);
	free(since);
	return rc;
}
