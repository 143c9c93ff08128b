/* Fan-out: send commands to many nodes at once and collect every reply, or
 * give up on the nodes that miss the deadline. One poll() loop over the
 * nodes' sockets; commands to one node are pipelined. */
#include "engine/redis/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"

static void drop_conn(struct hf_node *node)
{
	if (node->conn) {
		redisFree(node->conn);
		node->conn = NULL;
	}
}

static void fail(struct hf_call *call, const char *fmt, const char *detail)
{
	call->status = HF_EUNREACH;
	snprintf(call->error, sizeof(call->error), fmt, call->node->host, call->node->port, detail);
	drop_conn(call->node);
}

/* Send all of 'call's commands; 0 on success. */
static int send_call(struct hf_cluster *c, struct hf_call *call, long timeout_ms)
{
	redisContext *rc = call->node->conn;
	struct hf_err err = {0};
	size_t i;
	int done = 0;

	if (!rc) {
		rc = hf_redis_connect(call->node->host, call->node->port, c->uri.user,
				      c->uri.password, timeout_ms, &err);
		if (!rc) {
			call->status = err.code == HF_ERR ? HF_ERR : HF_EUNREACH;
			snprintf(call->error, sizeof(call->error), "%.200s", err.msg);
			return -1;
		}
		call->node->conn = rc;
	}
	for (i = 0; i < call->ncmds; i++)
		redisAppendCommandArgv(rc, call->cmds[i].argc, (const char **)call->cmds[i].argv,
				       call->cmds[i].len);
	while (!done) {
		if (redisBufferWrite(rc, &done) == REDIS_ERR) {
			fail(call, "%s:%d: write failed: %s", rc->errstr);
			return -1;
		}
	}
	return 0;
}

/* Take every complete reply already buffered; returns replies still due. */
static size_t take_replies(struct hf_call *call, size_t got)
{
	redisContext *rc = call->node->conn;

	while (got < call->ncmds) {
		void *r = NULL;

		if (redisGetReplyFromReader(rc, &r) == REDIS_ERR) {
			fail(call, "%s:%d: protocol error: %s", rc->errstr);
			return 0;
		}
		if (!r)
			break;
		call->replies[got++] = hf_reply_from_hiredis(r);
		freeReplyObject(r);
	}
	return got;
}

size_t hf_fanout(struct hf_cluster *c, struct hf_call *calls, size_t n, long timeout_ms)
{
	struct pollfd *pfd = hf_xcalloc(n, sizeof(*pfd));
	size_t *got = hf_xcalloc(n, sizeof(*got));
	size_t *idx = hf_xcalloc(n, sizeof(*idx));
	long long deadline;
	size_t i, failed = 0;

	if (timeout_ms <= 0)
		timeout_ms = c->timeout_ms;
	deadline = hf_mono_ms() + timeout_ms;
	for (i = 0; i < n; i++) {
		calls[i].status = 0;
		calls[i].error[0] = '\0';
		memset(calls[i].replies, 0, sizeof(calls[i].replies));
		if (send_call(c, &calls[i], timeout_ms))
			got[i] = calls[i].ncmds;   /* nothing more to wait for */
	}
	for (;;) {
		size_t np = 0;
		long long left = deadline - hf_mono_ms();
		int rc;

		for (i = 0; i < n; i++) {
			if (calls[i].status || got[i] >= calls[i].ncmds)
				continue;
			pfd[np].fd = ((redisContext *)calls[i].node->conn)->fd;
			pfd[np].events = POLLIN;
			pfd[np].revents = 0;
			idx[np++] = i;
		}
		if (!np)
			break;
		if (left <= 0) {
			for (i = 0; i < np; i++)
				fail(&calls[idx[i]], "%s:%d: no answer within %s", "the deadline");
			break;
		}
		rc = poll(pfd, np, (int)left);
		if (rc < 0 && errno != EINTR) {
			for (i = 0; i < np; i++)
				fail(&calls[idx[i]], "%s:%d: poll failed: %s", strerror(errno));
			break;
		}
		for (i = 0; i < np && rc > 0; i++) {
			struct hf_call *call = &calls[idx[i]];

			if (!pfd[i].revents)
				continue;
			if (redisBufferRead(call->node->conn) == REDIS_ERR) {
				fail(call, "%s:%d: connection lost: %s",
				     ((redisContext *)call->node->conn)->errstr);
				continue;
			}
			got[idx[i]] = take_replies(call, got[idx[i]]);
		}
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
	free(pfd);
	free(got);
	free(idx);
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
