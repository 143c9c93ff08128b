/* Fan-out: send commands to many nodes at once and collect every reply, or
 * give up on the nodes that miss the deadline. One poll() loop over the
 * nodes' sockets; commands to one node are pipelined. */
#include "engine/redis/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"

static void drop_conn(struct hf_node *node)
{
	if (node->conn) {
		hf_conn_close(node->conn);
		node->conn = NULL;
	}
}

static void fail(struct hf_call *call, const char *fmt, const char *detail)
{
	call->status = HF_EUNREACH;
	snprintf(call->error, sizeof(call->error), fmt, call->node->host, call->node->port, detail);
	drop_conn(call->node);
}

/* 'call' failed because its node's connection could not be opened. */
static void open_failed(struct hf_call *call, const struct hf_err *err)
{
	/* A refused AUTH or certificate is no node being down. */
	call->status = err->code == HF_ERR || err->code == HF_EREFUSED ? HF_ERR : HF_EUNREACH;
	snprintf(call->error, sizeof(call->error), "%.200s", err->msg);
}

/* Commands are idempotent (reads, CONFIG SET to fixed values, CONFIG
 * REWRITE), so a kept connection that the server closed before any reply
 * is retried once on a new one; a call marked 'once' (a script that
 * changes keys) fails instead, and its caller finds out what happened. */
struct pending {
	long long deadline;   /* each node's own: a slow connect elsewhere costs it nothing */
	size_t got;
	int reused;
	int retried;
	int reported;         /* handed to the caller's 'next' */
	int waiting;          /* not sent before its 'not_before' */
	int opening;          /* its connection is being opened: commands not sent yet */
};

/* Queue and write all of 'call's commands on its node's open connection;
 * 0, or -1 when the call failed. */
static int write_call(struct hf_call *call, long timeout_ms)
{
	struct hf_conn *rc = call->node->conn;
	size_t i;

	for (i = 0; i < call->ncmds; i++)
		hf_conn_append(rc, &call->cmds[i]);
	if (hf_conn_flush(rc, timeout_ms)) {
		fail(call, "%s:%d: write failed: %s", hf_conn_error(rc));
		return -1;
	}
	return 0;
}

/* Send all of 'call's commands; or, when its node has no connection,
 * start opening one ('p->opening': they are sent once it is open, from
 * the loop, so that the nodes' connects and TLS handshakes go on at
 * once). 'p->reused' says whether a kept connection carried them.
 * Returns 0, or -1 when the call failed. */
static int send_call(struct hf_cluster *c, struct hf_call *call, long timeout_ms,
		     struct pending *p)
{
	struct hf_conn *rc = call->node->conn;
	struct hf_err err = {0};
	int r;

	/* A kept connection the server closed since its last use (its idle
	 * 'timeout', a restart, CLIENT KILL) is not used again. */
	if (rc && hf_conn_stale(rc)) {
		drop_conn(call->node);
		rc = NULL;
	}
	p->reused = rc != NULL;
	p->opening = 0;
	if (!rc) {
		if (hf_conn_start(call->node->host, call->node->port, &rc, &err)) {
			open_failed(call, &err);
			return -1;
		}
		call->node->conn = rc;
		r = hf_conn_advance(rc, &c->uri, timeout_ms, &err);
		if (r < 0) {
			open_failed(call, &err);
			drop_conn(call->node);
			return -1;
		}
		if (r > 0) {
			p->opening = 1;
			return 0;
		}
	}
	return write_call(call, timeout_ms);
}

/* The node's connection of 'call' made a step of its opening: when it is
 * open, the call's commands go. */
static void opened(struct hf_cluster *c, struct hf_call *call, struct pending *p,
		   long timeout_ms)
{
	struct hf_err err = {0};
	int r = hf_conn_advance(call->node->conn, &c->uri, timeout_ms, &err);

	if (r > 0)
		return;
	p->opening = 0;
	if (r < 0) {
		open_failed(call, &err);
		drop_conn(call->node);
		p->got = call->ncmds;
	} else if (write_call(call, timeout_ms)) {
		p->got = call->ncmds;
	}
}

/* A node that wants credentials it was not given (NOAUTH) fails the call
 * with how to give them: no command of it was carried out. */
static int no_auth(struct hf_call *call, const struct hf_reply *r)
{
	struct hf_err err = {0};
	char addr[300];

	if (r->type != HF_REPLY_ERROR || strncmp(r->str, "NOAUTH", 6))
		return 0;
	snprintf(addr, sizeof(addr), "%s:%d", call->node->host, call->node->port);
	hf_auth_error(addr, r->str, NULL, &err);
	call->status = HF_ERR;
	snprintf(call->error, sizeof(call->error), "%.200s", err.msg);
	drop_conn(call->node);
	return 1;
}

/* Take every complete reply already buffered; returns replies still due. */
static size_t take_replies(struct hf_call *call, size_t got)
{
	struct hf_conn *rc = call->node->conn;

	while (got < call->ncmds) {
		redisReply *r = NULL;

		if (hf_conn_get(rc, &r)) {
			fail(call, "%s:%d: %s", hf_conn_error(rc));
			return 0;
		}
		if (!r)
			break;
		call->replies[got++] = hf_reply_from_hiredis(r);
		freeReplyObject(r);
		if (no_auth(call, call->replies[got - 1]))
			return 0;
	}
	return got;
}


/* A call given more commands than it has room for: a programming error
 * (see hf_call_cmd()), never a state to run on from. */
static _Noreturn void too_many(const struct hf_call *call)
{
	if (call->node)
		fprintf(stderr, "hotfix: a call to %s:%d has more than %d commands\n",
			call->node->host, call->node->port, HF_CALL_MAX);
	else
		fprintf(stderr, "hotfix: a call has more than %d commands\n", HF_CALL_MAX);
	abort();
}

/* (Re)send a call: its answers cleared, its deadline from now; or, when
 * its 'not_before' is still to come, hold it until then. */
static void arm(struct hf_cluster *c, struct hf_call *call, struct pending *p, long timeout_ms)
{
	/* A call built without hf_call_cmd() is caught here at least, before
	 * replies are read into slots that do not exist. */
	if (call->ncmds > HF_CALL_MAX)
		too_many(call);
	call->status = 0;
	call->done_us = 0;
	call->error[0] = '\0';
	memset(call->replies, 0, sizeof(call->replies));
	memset(p, 0, sizeof(*p));
	if (call->not_before > hf_mono_ms()) {
		p->waiting = 1;
		return;
	}
	if (!call->ncmds)
		return;   /* nothing to send: complete, without a connection */
	if (send_call(c, call, timeout_ms, p))
		p->got = call->ncmds;   /* nothing more to wait for */
	p->deadline = hf_mono_ms() + timeout_ms;
}

/* Answered, or failed: the caller may have it back. */
static int complete(const struct hf_call *call, const struct pending *p)
{
	return !p->waiting && (call->status || p->got >= call->ncmds);
}

size_t hf_fanout(struct hf_cluster *c, struct hf_call *calls, size_t n, long timeout_ms)
{
	return hf_fanout_each(c, calls, n, timeout_ms, NULL, NULL);
}

/* One hf_fanout_each() under way: its calls, their state, and the sockets
 * of one pass of its loop. */
struct fanout {
	struct hf_cluster *c;
	struct hf_call *calls;
	struct pending *st;
	size_t n;
	long timeout_ms;
	int (*next)(void *ud, size_t i);
	void *ud;
	struct pollfd *pfd;   /* the calls waiting for replies, this pass */
	size_t *idx;          /* each one's call */
	size_t np;
};

/* A call held back is sent when its time comes. */
static void send_due(struct fanout *f, long long now)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->st[i].waiting && f->calls[i].not_before <= now)
			arm(f->c, &f->calls[i], &f->st[i], f->timeout_ms);
}

/* A call that is complete (answered, or failed) goes back to the caller,
 * who may send the node its next one at once. Returns the time after. */
static long long hand_back(struct fanout *f, long long now)
{
	long long spent;
	size_t i;

	if (!f->next)
		return now;
	for (i = 0; i < f->n; i++)
		while (!f->st[i].reported && complete(&f->calls[i], &f->st[i])) {
			f->st[i].reported = 1;
			if (f->next(f->ud, i))
				arm(f->c, &f->calls[i], &f->st[i], f->timeout_ms);
		}
	/* Time spent in the caller is no node's fault: a reply waiting in a
	 * socket meanwhile is not late. */
	spent = hf_mono_ms() - now;
	for (i = 0; i < f->n && spent > 0; i++)
		if (!f->st[i].reported)
			f->st[i].deadline += spent;
	return hf_mono_ms();
}

/* Fail the calls whose deadline passed and list the sockets of those
 * still waiting for replies in 'f->pfd'. '*first' becomes the earliest
 * deadline or 'not_before' to come (0: none). Returns the calls held
 * back. */
static size_t gather(struct fanout *f, long long now, long long *first)
{
	size_t i, waiting = 0;

	f->np = 0;
	for (i = 0; i < f->n; i++) {
		struct hf_call *call = &f->calls[i];

		if (f->st[i].waiting) {
			waiting++;
			if (!*first || call->not_before < *first)
				*first = call->not_before;
			continue;
		}
		if (complete(call, &f->st[i]))
			continue;
		if (f->st[i].deadline <= now) {
			fail(call, "%s:%d: no answer within the deadline%s",
			     f->st[i].opening ? hf_conn_stuck(call->node->conn) : "");
			continue;
		}
		if (!*first || f->st[i].deadline < *first)
			*first = f->st[i].deadline;
		f->pfd[f->np].fd = hf_conn_fd(call->node->conn);
		f->pfd[f->np].events = hf_conn_events(call->node->conn);
		f->pfd[f->np].revents = 0;
		f->idx[f->np++] = i;
	}
	return waiting;
}

/* Has every call been handed back to the caller's 'next'? */
static int all_reported(const struct fanout *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!f->st[i].reported)
			return 0;
	return 1;
}

/* Read what the nodes that poll() found readable sent. */
static void read_ready(struct fanout *f, int rc)
{
	size_t i;

	for (i = 0; i < f->np && rc > 0; i++) {
		struct hf_call *call = &f->calls[f->idx[i]];
		struct pending *p = &f->st[f->idx[i]];

		if (!f->pfd[i].revents)
			continue;
		if (p->opening) {
			opened(f->c, call, p, f->timeout_ms);
			continue;
		}
		if (hf_conn_read(call->node->conn)) {
			if (p->reused && !p->retried && !p->got && !call->once) {
				p->retried = 1;
				drop_conn(call->node);
				if (send_call(f->c, call, f->timeout_ms, p))
					p->got = call->ncmds;
				p->deadline = hf_mono_ms() + f->timeout_ms;
				continue;
			}
			fail(call, "%s:%d: connection lost: %s", hf_conn_error(call->node->conn));
			continue;
		}
		p->got = take_replies(call, p->got);
		if (p->got >= call->ncmds)
			call->done_us = hf_mono_us();
	}
}

size_t hf_fanout_each(struct hf_cluster *c, struct hf_call *calls, size_t n, long timeout_ms,
		      int (*next)(void *ud, size_t i), void *ud)
{
	struct fanout f = { .c = c, .calls = calls, .n = n, .timeout_ms = timeout_ms,
			    .next = next, .ud = ud };
	size_t i, failed = 0;

	f.pfd = hf_xcalloc(n ? n : 1, sizeof(*f.pfd));
	f.st = hf_xcalloc(n ? n : 1, sizeof(*f.st));
	f.idx = hf_xcalloc(n ? n : 1, sizeof(*f.idx));
	if (timeout_ms <= 0)
		f.timeout_ms = c->timeout_ms;
	for (i = 0; i < n; i++)
		arm(c, &calls[i], &f.st[i], f.timeout_ms);
	for (;;) {
		long long now = hf_mono_ms(), first = 0;
		size_t waiting;
		int rc;

		send_due(&f, now);
		now = hand_back(&f, now);
		waiting = gather(&f, now, &first);
		if (!f.np && !waiting) {
			if (next && !all_reported(&f))
				continue;   /* a deadline just passed: report it */
			break;
		}
		/* With only calls held back, this waits for the first of them. */
		rc = poll(f.pfd, f.np, first > now ? (int)(first - now) : 0);
		if (rc < 0 && errno != EINTR) {
			for (i = 0; i < f.np; i++)
				fail(&calls[f.idx[i]], "%s:%d: poll failed: %s", strerror(errno));
			continue;   /* every call pending has failed: reported above */
		}
		read_ready(&f, rc);
	}
	for (i = 0; i < n; i++) {
		if (calls[i].status) {
			size_t k;

			for (k = 0; k < HF_CALL_MAX; k++) {
				hf_reply_free(calls[i].replies[k]);
				calls[i].replies[k] = NULL;
			}
			failed++;
		}
	}
	free(f.pfd);
	free(f.st);
	free(f.idx);
	return failed;
}

void hf_calls_release(struct hf_call *calls, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < HF_CALL_MAX; k++) {
			hf_reply_free(calls[i].replies[k]);
			calls[i].replies[k] = NULL;
			hf_argv_release(&calls[i].cmds[k]);
		}
		calls[i].ncmds = 0;
	}
}

struct hf_argv *hf_call_cmd(struct hf_call *call)
{
	if (call->ncmds >= HF_CALL_MAX)
		too_many(call);
	return &call->cmds[call->ncmds++];
}

void hf_call_push(struct hf_call *call, const char *word, ...)
{
	struct hf_argv *a = hf_call_cmd(call);
	const char *w;
	va_list ap;

	va_start(ap, word);
	for (w = word; w; w = va_arg(ap, const char *))
		hf_argv_push(a, w);
	va_end(ap);
}
