/* 'hotfix stage': reading a source cluster (settings, libraries, users,
 * statistics, a sample of its keys) and copying it into a local mirror.
 * Nothing here writes to the source: see stage.h for the commands sent. */
#include "engine/redis/stage.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/internal.h"
#include "util/buf.h"
#include "util/misc.h"

#define SCAN_COUNT "1000"
#define SLOTS 16384

const char *const hf_stage_type_names[HF_STAGE_NTYPES] = {
	"string", "hash", "list", "set", "zset", "stream", "other",
};

/* ---- small helpers ------------------------------------------------- */

static void skip_add(struct hf_stage_skips *k, const char *what, const char *why)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 16;
		k->v = hf_xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	k->v[k->n].what = hf_xstrdup(what);
	k->v[k->n].why = hf_xstrdup(why);
	k->n++;
}

void hf_stage_skips_release(struct hf_stage_skips *k)
{
	size_t i;

	for (i = 0; i < k->n; i++) {
		free(k->v[i].what);
		free(k->v[i].why);
	}
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/* Wait for the next reply on 'c' until 'deadline' (hf_mono_ms()). */
static int next_reply(struct hf_conn *c, long long deadline, redisReply **out)
{
	for (;;) {
		struct pollfd p;
		long long left;

		*out = NULL;
		if (hf_conn_get(c, out))
			return -1;
		if (*out)
			return 0;
		if (hf_conn_read(c))
			return -1;
		if (hf_conn_get(c, out))
			return -1;
		if (*out)
			return 0;
		left = deadline - hf_mono_ms();
		if (left <= 0)
			return -1;
		p.fd = hf_conn_fd(c);
		p.events = hf_conn_events(c);
		p.revents = 0;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
	}
}

/* Read 'n' replies of a pipeline sent on 'c' into 'out'. */
static int read_replies(struct hf_conn *c, size_t n, long timeout_ms, redisReply **out,
			struct hf_err *err)
{
	long long deadline = hf_mono_ms() + timeout_ms;
	size_t i;

	for (i = 0; i < n; i++)
		if (next_reply(c, deadline, &out[i])) {
			while (i > 0) {
				freeReplyObject(out[--i]);
				out[i] = NULL;
			}
			return hf_err_set(err, HF_EUNREACH, "%s: no answer to a pipeline of %zu: %s",
					  hf_conn_addr(c), n, hf_conn_error(c));
		}
	return 0;
}

/* Send 'n' commands at once on 'c' and read their replies into 'out'. */
static int pipeline(struct hf_conn *c, const struct hf_argv *cmds, size_t n, long timeout_ms,
		    redisReply **out, struct hf_err *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		hf_conn_append(c, &cmds[i]);
	if (hf_conn_flush(c, timeout_ms))
		return hf_err_set(err, HF_EUNREACH, "%s: cannot send: %s", hf_conn_addr(c),
				  hf_conn_error(c));
	return read_replies(c, n, timeout_ms, out, err);
}

/* One command given as words up to a NULL; NULL with 'err' on no answer. */
static redisReply *command(struct hf_conn *c, long timeout_ms, struct hf_err *err, ...)
{
	struct hf_argv a = {0};
	redisReply *r = NULL;
	const char *w;
	va_list ap;

	va_start(ap, err);
	while ((w = va_arg(ap, const char *)))
		hf_argv_push(&a, w);
	va_end(ap);
	if (pipeline(c, &a, 1, timeout_ms, &r, err))
		r = NULL;
	hf_argv_release(&a);
	return r;
}

static int reply_error(const char *addr, const char *what, const redisReply *r, struct hf_err *err)
{
	return hf_err_set(err, HF_EREFUSED, "%s refused %s: %s", addr, what, r->str ? r->str : "?");
}

/* ---- the source's shape -------------------------------------------- */

static void read_shape(struct hf_stage_source *s)
{
	struct hf_cluster *c = s->c;
	int *count;
	size_t i;

	s->shards = c->nshards > 0 ? c->nshards : 1;
	count = hf_xcalloc((size_t)s->shards, sizeof(*count));
	s->ranges = hf_xcalloc((size_t)s->shards, sizeof(*s->ranges));
	s->nranges = hf_xcalloc((size_t)s->shards, sizeof(*s->nranges));
	for (i = 0; i < c->nnodes; i++) {
		struct hf_node *n = &c->nodes[i];

		if (n->shard < 0 || n->shard >= s->shards)
			continue;
		if (n->role == HF_ROLE_REPLICA) {
			count[n->shard]++;
		} else if (n->ranges && !s->ranges[n->shard]) {
			s->ranges[n->shard] = hf_xmalloc(2 * n->nranges * sizeof(int));
			memcpy(s->ranges[n->shard], n->ranges, 2 * n->nranges * sizeof(int));
			s->nranges[n->shard] = n->nranges;
		}
	}
	for (i = 0; i < (size_t)s->shards; i++)
		if (count[i] > s->replicas)
			s->replicas = count[i];
	for (i = 0; i < (size_t)s->shards; i++)
		s->uneven |= count[i] != s->replicas;
	free(count);
}

static struct hf_node *first_primary(struct hf_cluster *c)
{
	size_t i;

	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].role == HF_ROLE_PRIMARY)
			return &c->nodes[i];
	return NULL;
}

/* ---- configuration ------------------------------------------------- */

/* Parameters not copied, and why; a name ending in '*' is a prefix. */
static const struct {
	const char *name;
	const char *why;
} excluded[] = {
	{ "port", "host-specific: the mirror's nodes have ports of their own" },
	{ "bind", "host-specific: the mirror listens on loopback" },
	{ "bind-source-addr", "host-specific: an address of the source's host" },
	{ "unixsocket*", "host-specific: a path on the source's host" },
	{ "dir", "host-specific: the mirror's nodes live in the mirror's directory" },
	{ "dbfilename", "host-specific: a file in the node's directory" },
	{ "appendfilename", "host-specific: a file in the node's directory" },
	{ "appenddirname", "host-specific: a directory in the node's directory" },
	{ "pidfile", "host-specific: the mirror's nodes have their own" },
	{ "logfile", "host-specific: the mirror's nodes log into their directory" },
	{ "syslog-*", "host-specific: the source host's logging" },
	{ "daemonize", "process management: the sandbox starts its nodes itself" },
	{ "supervised", "process management: the sandbox starts its nodes itself" },
	{ "cluster-config-file", "host-specific: the mirror's nodes have their own" },
	{ "cluster-port", "host-specific: the mirror's bus ports are its ports + 10000" },
	{ "cluster-announce-*", "host-specific: how the source's nodes announce themselves" },
	{ "cluster-enabled", "the same by construction (the mirror has the source's mode)" },
	{ "replicaof", "topology: the mirror's replicas follow the mirror's primaries" },
	{ "slaveof", "topology: the mirror's replicas follow the mirror's primaries" },
	{ "masterauth", "credentials: the mirror's replicas use the mirror's password" },
	{ "masteruser", "credentials: the mirror's replicas use the mirror's default user" },
	{ "requirepass", "credentials: never read in clear; the ACL users (with the default "
			 "user's password hash) are copied instead" },
	{ "aclfile", "host-specific: a path on the source's host; the users are copied" },
	{ "tls-*", "TLS: certificate files are the source host's; the mirror is plain TCP" },
	{ "io-threads", "host-specific: sized for the source host's CPUs" },
	{ "io-threads-do-reads", "host-specific: sized for the source host's CPUs" },
	{ "oom-score-adj", "host-specific: the source host's process policy" },
	{ "oom-score-adj-values", "host-specific: the source host's process policy" },
	{ "enable-debug-command", "sandbox: the mirror allows DEBUG from loopback" },
	{ "enable-protected-configs", "sandbox: the mirror's own" },
	{ "enable-module-command", "sandbox: the mirror's own" },
	{ "protected-mode", "sandbox: the mirror listens on loopback only" },
};

static const char *excluded_why(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++) {
		const char *e = excluded[i].name;
		size_t len = strlen(e);

		if (e[len - 1] == '*' ? !strncmp(name, e, len - 1) : !strcmp(name, e))
			return excluded[i].why;
	}
	return NULL;
}

static int read_config(struct hf_stage_source *s, struct hf_conn *c, long t, struct hf_err *err)
{
	redisReply *r = command(c, t, err, "CONFIG", "GET", "*", NULL);
	size_t i;

	if (!r)
		return err->code;
	if (r->type != REDIS_REPLY_ARRAY) {
		int rc = reply_error(hf_conn_addr(c), "CONFIG GET *", r, err);

		freeReplyObject(r);
		return rc;
	}
	s->cfg = hf_xcalloc(r->elements + 1, sizeof(char *));
	for (i = 0; i + 1 < r->elements; i += 2) {
		const char *name = r->element[i]->str, *why;

		if (!name || !r->element[i + 1]->str)
			continue;
		if ((why = excluded_why(name))) {
			skip_add(&s->excluded, name, why);
			continue;
		}
		s->cfg[2 * s->ncfg] = hf_xstrdup(name);
		s->cfg[2 * s->ncfg + 1] = hf_xstrdup(r->element[i + 1]->str);
		s->ncfg++;
	}
	freeReplyObject(r);
	return 0;
}

/* ---- functions, users, version ------------------------------------- */

static void read_functions(struct hf_stage_source *s, struct hf_conn *c, long t)
{
	struct hf_err e;
	redisReply *r = command(c, t, &e, "FUNCTION", "DUMP", NULL);
	redisReply *l;

	if (!r || r->type != REDIS_REPLY_STRING) {
		skip_add(&s->excluded, "functions", r && r->str ? r->str : "FUNCTION DUMP gave nothing");
		if (r)
			freeReplyObject(r);
		return;
	}
	s->functions = hf_xmalloc(r->len + 1);
	memcpy(s->functions, r->str, r->len);
	s->functions_len = r->len;
	freeReplyObject(r);
	if ((l = command(c, t, &e, "FUNCTION", "LIST", NULL))) {
		if (l->type == REDIS_REPLY_ARRAY)
			s->nlibraries = l->elements;
		freeReplyObject(l);
	}
}

static int read_acl(struct hf_stage_source *s, struct hf_conn *c, long t, struct hf_err *err)
{
	redisReply *r = command(c, t, err, "ACL", "LIST", NULL);
	size_t i;

	if (!r)
		return err->code;
	if (r->type != REDIS_REPLY_ARRAY) {
		skip_add(&s->excluded, "ACL users", r->str ? r->str : "ACL LIST gave no list");
		freeReplyObject(r);
		return 0;
	}
	s->acl = hf_xcalloc(r->elements + 1, sizeof(char *));
	for (i = 0; i < r->elements; i++)
		if (r->element[i]->str)
			s->acl[s->nacl++] = hf_xstrdup(r->element[i]->str);
	freeReplyObject(r);
	return 0;
}

static void read_version(struct hf_stage_source *s, struct hf_conn *c, long t)
{
	struct hf_err e;
	redisReply *r = command(c, t, &e, "INFO", "server", NULL);

	if (r && r->str && hf_info_field(r->str, "redis_version", s->version, sizeof(s->version)))
		s->version[0] = 0;
	if (r)
		freeReplyObject(r);
}

/* ---- statistics ---------------------------------------------------- */

static void add_cmdstat(struct hf_stage_source *s, const char *name, size_t len, long long calls,
			int replica)
{
	struct hf_stage_cmdstat *cs = NULL;
	size_t i;

	for (i = 0; i < s->ncmds && !cs; i++)
		if (strlen(s->cmds[i].name) == len && !strncmp(s->cmds[i].name, name, len))
			cs = &s->cmds[i];
	if (!cs) {
		s->cmds = hf_xrealloc(s->cmds, (s->ncmds + 1) * sizeof(*s->cmds));
		cs = &s->cmds[s->ncmds++];
		memset(cs, 0, sizeof(*cs));
		cs->name = hf_xstrndup(name, len);
		cs->kind = 'o';
	}
	if (replica)
		cs->replica_calls += calls;
	else
		cs->calls += calls;
}

/* "cmdstat_get:calls=12,usec=..." lines of INFO commandstats, of a
 * replica when 'replica'. */
static void parse_cmdstats(struct hf_stage_source *s, const char *info, int replica)
{
	const char *p = info;

	while ((p = strstr(p, "cmdstat_"))) {
		const char *name = p + 8, *colon = strchr(name, ':');
		const char *calls = colon ? strstr(colon, "calls=") : NULL;
		const char *eol = strchr(name, '\n');

		if (colon && calls && (!eol || calls < eol))
			add_cmdstat(s, name, (size_t)(colon - name), atoll(calls + 6), replica);
		p = name;
	}
}

static void read_stats(struct hf_stage_source *s, long t)
{
	struct hf_cluster *c = s->c;
	struct hf_call *calls = hf_xcalloc(c->nnodes, sizeof(*calls));
	size_t i;

	for (i = 0; i < c->nnodes; i++) {
		calls[i].node = &c->nodes[i];
		hf_call_push(&calls[i], "INFO", "commandstats", NULL);
		hf_call_push(&calls[i], "INFO", "stats", NULL);
		hf_call_push(&calls[i], "INFO", "keyspace", NULL);
	}
	hf_fanout(c, calls, c->nnodes, t);
	for (i = 0; i < c->nnodes; i++) {
		struct hf_reply **r = calls[i].replies;
		char v[64];
		const char *db0;

		if (calls[i].status || !r[0] || !r[1] || !r[2] || !r[0]->str || !r[1]->str || !r[2]->str)
			continue;
		parse_cmdstats(s, r[0]->str, c->nodes[i].role != HF_ROLE_PRIMARY);
		if (!hf_info_field(r[1]->str, "instantaneous_ops_per_sec", v, sizeof(v))) {
			s->ops_per_sec += atof(v);
			if (c->nodes[i].role == HF_ROLE_PRIMARY)
				s->ops_primaries += atof(v);
		}
		if (c->nodes[i].role == HF_ROLE_PRIMARY && (db0 = strstr(r[2]->str, "db0:keys=")))
			s->keys += atoll(db0 + 9);
	}
	hf_calls_release(calls, c->nnodes);
	free(calls);
}

/* Each command's kind from COMMAND INFO's flags (of the container for
 * "config|get"). */
static void classify(struct hf_stage_source *s, struct hf_conn *c, long t)
{
	struct hf_argv a = {0};
	redisReply *r = NULL;
	struct hf_err e;
	size_t i, j;

	if (!s->ncmds)
		return;
	hf_argv_push(&a, "COMMAND");
	hf_argv_push(&a, "INFO");
	for (i = 0; i < s->ncmds; i++)
		hf_argv_pushb(&a, s->cmds[i].name, strcspn(s->cmds[i].name, "|"));
	if (!pipeline(c, &a, 1, t, &r, &e) && r->type == REDIS_REPLY_ARRAY && r->elements == s->ncmds)
		for (i = 0; i < s->ncmds; i++) {
			redisReply *info = r->element[i], *flags;

			if (info->type != REDIS_REPLY_ARRAY || info->elements < 3)
				continue;
			flags = info->element[2];
			for (j = 0; j < flags->elements; j++) {
				const char *f = flags->element[j]->str;

				if (f && !strcmp(f, "write"))
					s->cmds[i].kind = 'w';
				else if (f && !strcmp(f, "readonly") && s->cmds[i].kind != 'w')
					s->cmds[i].kind = 'r';
			}
		}
	if (r)
		freeReplyObject(r);
	hf_argv_release(&a);
}

int hf_stage_read(const struct hf_uri *uri, long timeout_ms, long converge_ms,
		  struct hf_stage_source *s, struct hf_err *err)
{
	struct hf_conn *c = NULL;
	struct hf_node *p;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = hf_cluster_discover(uri, timeout_ms, converge_ms, &s->c, err)))
		return rc;
	read_shape(s);
	if (!(p = first_primary(s->c)))
		return hf_err_set(err, HF_ERR, "the source has no primary");
	read_stats(s, timeout_ms);
	if ((rc = hf_conn_open(&s->c->uri, p->host, p->port, timeout_ms, &c, err)))
		return rc;
	read_version(s, c, timeout_ms);
	if (!(rc = read_config(s, c, timeout_ms, err)))
		rc = read_acl(s, c, timeout_ms, err);
	if (!rc) {
		read_functions(s, c, timeout_ms);
		classify(s, c, timeout_ms);
	}
	hf_conn_close(c);
	return rc;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void hf_stage_source_release(struct hf_stage_source *s)
{
	size_t i;

	for (i = 0; s->ranges && i < (size_t)s->shards; i++)
		free(s->ranges[i]);
	free(s->ranges);
	free(s->nranges);
	free_strv(s->cfg, 2 * s->ncfg);
	free_strv(s->acl, s->nacl);
	hf_stage_skips_release(&s->excluded);
	free(s->functions);
	for (i = 0; i < s->ncmds; i++)
		free(s->cmds[i].name);
	free(s->cmds);
	hf_cluster_free(s->c);
	memset(s, 0, sizeof(*s));
}

/* ---- the mirror ---------------------------------------------------- */

/* The mirror's nodes, each with a connection ('conns[i]' for nodes[i]). */
struct mirror {
	struct hf_cluster *c;
	struct hf_conn **conns;
	int owner[SLOTS];          /* node index of each slot's primary, cluster mode */
	int primary;               /* standalone: the primary's index */
};

static void mirror_close(struct mirror *m)
{
	size_t i;

	for (i = 0; m->c && i < m->c->nnodes; i++)
		if (m->conns[i])
			hf_conn_close(m->conns[i]);
	free(m->conns);
	hf_cluster_free(m->c);
}

static void mirror_slots(struct mirror *m)
{
	size_t i, j;
	int s;

	for (s = 0; s < SLOTS; s++)
		m->owner[s] = -1;
	for (i = 0; i < m->c->nnodes; i++) {
		const struct hf_node *n = &m->c->nodes[i];

		if (n->role != HF_ROLE_PRIMARY)
			continue;
		m->primary = (int)i;
		for (j = 0; j < n->nranges; j++)
			for (s = n->ranges[2 * j]; s <= n->ranges[2 * j + 1] && s < SLOTS; s++)
				if (s >= 0)
					m->owner[s] = (int)i;
	}
}

static int mirror_open(const struct hf_uri *uri, long t, struct mirror *m, struct hf_err *err)
{
	size_t i;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = hf_cluster_discover(uri, t, HF_CONVERGE_DEFAULT_MS, &m->c, err)))
		return rc;
	m->conns = hf_xcalloc(m->c->nnodes, sizeof(*m->conns));
	for (i = 0; i < m->c->nnodes; i++)
		if ((rc = hf_conn_open(&m->c->uri, m->c->nodes[i].host, m->c->nodes[i].port, t,
				       &m->conns[i], err)))
			return rc;
	mirror_slots(m);
	return 0;
}

/* The parameters of 's' whose value on node 'c' differs, as CONFIG SET
 * commands into 'cmds' (at most s->ncfg); returns how many. */
static size_t config_diff(const struct hf_stage_source *s, struct hf_conn *c, long t,
			  struct hf_argv *cmds, size_t *same, struct hf_err *err)
{
	redisReply *r = command(c, t, err, "CONFIG", "GET", "*", NULL);
	size_t i, j, n = 0;

	for (i = 0; i < s->ncfg; i++) {
		const char *name = s->cfg[2 * i], *want = s->cfg[2 * i + 1];
		int equal = 0;

		for (j = 0; r && r->type == REDIS_REPLY_ARRAY && j + 1 < r->elements; j += 2)
			if (r->element[j]->str && !strcmp(r->element[j]->str, name)) {
				equal = r->element[j + 1]->str && !strcmp(r->element[j + 1]->str, want);
				break;
			}
		if (equal) {
			(*same)++;
			continue;
		}
		hf_argv_push(&cmds[n], "CONFIG");
		hf_argv_push(&cmds[n], "SET");
		hf_argv_push(&cmds[n], name);
		hf_argv_push(&cmds[n], want);
		n++;
	}
	if (r)
		freeReplyObject(r);
	return n;
}

/* CONFIG SET every differing parameter on node 'i', one command each so
 * that a refusal costs only that one; the first node's refusals are
 * recorded (the others are alike). */
static int config_node(const struct hf_stage_source *s, struct mirror *m, size_t i, long t,
		       struct hf_stage_setup *out, struct hf_err *err)
{
	struct hf_argv *cmds = hf_xcalloc(s->ncfg + 1, sizeof(*cmds));
	redisReply **r = hf_xcalloc(s->ncfg + 1, sizeof(*r));
	size_t same = 0, n = config_diff(s, m->conns[i], t, cmds, &same, err), j;
	int rc = pipeline(m->conns[i], cmds, n, t, r, err);

	for (j = 0; !rc && j < n; j++) {
		if (i == 0 && r[j]->type == REDIS_REPLY_ERROR)
			skip_add(&out->refused, cmds[j].argv[2], r[j]->str);
		else if (i == 0)
			out->cfg_set++;
		freeReplyObject(r[j]);
	}
	if (i == 0)
		out->cfg_same = same;
	for (j = 0; j < n; j++)
		hf_argv_release(&cmds[j]);
	free(cmds);
	free(r);
	return rc;
}

static int functions_restore(const struct hf_stage_source *s, struct mirror *m, long t,
			     struct hf_stage_setup *out, struct hf_err *err)
{
	size_t i;
	int rc = 0;

	if (!s->functions || !s->nlibraries)
		return 0;
	for (i = 0; i < m->c->nnodes && !rc; i++) {
		struct hf_argv a = {0};
		redisReply *r = NULL;

		if (m->c->nodes[i].role != HF_ROLE_PRIMARY)
			continue;
		hf_argv_push(&a, "FUNCTION");
		hf_argv_push(&a, "RESTORE");
		hf_argv_pushb(&a, s->functions, s->functions_len);
		hf_argv_push(&a, "REPLACE");
		if (!(rc = pipeline(m->conns[i], &a, 1, t, &r, err))) {
			if (r->type == REDIS_REPLY_ERROR)
				rc = reply_error(hf_conn_addr(m->conns[i]), "FUNCTION RESTORE", r, err);
			freeReplyObject(r);
		}
		hf_argv_release(&a);
	}
	if (!rc)
		out->libraries = s->nlibraries;
	return rc;
}

int hf_stage_setup(const struct hf_stage_source *s, const struct hf_uri *mirror,
		   long timeout_ms, struct hf_stage_setup *out, struct hf_err *err)
{
	struct mirror m;
	size_t i;
	int rc = mirror_open(mirror, timeout_ms, &m, err);

	for (i = 0; !rc && i < m.c->nnodes; i++)
		rc = config_node(s, &m, i, timeout_ms, out, err);
	if (!rc)
		rc = functions_restore(s, &m, timeout_ms, out, err);
	mirror_close(&m);
	return rc;
}

/* "user NAME rules..." as ACL SETUSER NAME, what resets a user's
 * passwords, keys, channels, selectors and commands (not 'reset', which
 * adds 'sanitize-payload'), then the rules; a selector, "(~k* +get)",
 * stays one word. */
static void acl_setuser(const char *line, struct hf_argv *a)
{
	const char *p = line;
	int first = 1;

	hf_argv_push(a, "ACL");
	hf_argv_push(a, "SETUSER");
	if (!strncmp(p, "user ", 5))
		p += 5;
	while (*p) {
		const char *w = p;
		int depth = 0;

		while (*p == ' ')
			p++;
		for (w = p; *p && (depth || *p != ' '); p++)
			depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		if (p > w)
			hf_argv_pushb(a, w, (size_t)(p - w));
		if (p > w && first) {
			static const char *const clear[] = { "resetpass", "resetkeys", "resetchannels",
							     "clearselectors", "-@all" };
			size_t i;

			for (i = 0; i < sizeof(clear) / sizeof(clear[0]); i++)
				hf_argv_push(a, clear[i]);
			first = 0;
		}
	}
}

int hf_stage_acl(const struct hf_stage_source *s, const struct hf_uri *mirror,
		 long timeout_ms, struct hf_stage_setup *out, struct hf_err *err)
{
	struct hf_argv *cmds = hf_xcalloc(s->nacl + 1, sizeof(*cmds));
	redisReply **r = hf_xcalloc(s->nacl + 1, sizeof(*r));
	struct mirror m;
	size_t i, j;
	int rc = mirror_open(mirror, timeout_ms, &m, err);

	for (j = 0; j < s->nacl; j++)
		acl_setuser(s->acl[j], &cmds[j]);
	for (i = 0; !rc && i < m.c->nnodes; i++) {
		if ((rc = pipeline(m.conns[i], cmds, s->nacl, timeout_ms, r, err)))
			break;
		for (j = 0; j < s->nacl; j++) {
			if (r[j]->type == REDIS_REPLY_ERROR && !rc)
				rc = hf_err_set(err, HF_EREFUSED, "%s refused ACL user '%s': %s",
						hf_conn_addr(m.conns[i]), cmds[j].argv[2], r[j]->str);
			freeReplyObject(r[j]);
		}
	}
	if (!rc)
		out->users = s->nacl;
	for (j = 0; j < s->nacl; j++)
		hf_argv_release(&cmds[j]);
	free(cmds);
	free(r);
	mirror_close(&m);
	return rc;
}

/* ---- the data ------------------------------------------------------ */

struct copier {
	const struct hf_stage_source *s;
	const struct hf_stage_sample *sample;
	struct mirror m;
	long t;
	int abs;                   /* PEXPIRETIME and RESTORE ... ABSTTL (Redis 7) */
	struct hf_stage_copy *out;
};

/* Is the key in the sample? By a hash of its name, so the same keys are
 * picked on every run whatever SCAN's order. */
static int sampled(const struct hf_stage_sample *sm, const char *key, size_t len)
{
	if (sm->per_primary > 0)
		return 1;
	return (double)(hf_fnv1a(key, len) % 1000000ULL) < sm->share * 1e6;
}

static int type_index(const char *t)
{
	int i;

	for (i = 0; t && i < HF_STAGE_OTHER; i++)
		if (!strcmp(t, hf_stage_type_names[i]))
			return i;
	return HF_STAGE_OTHER;
}

static void note_key(struct hf_stage_copy *o, size_t klen, size_t vlen, const char *type,
		     long long length, long long elem)
{
	if (o->nsizes == o->capsizes) {
		o->capsizes = o->capsizes ? 2 * o->capsizes : 1024;
		o->key_sizes = hf_xrealloc(o->key_sizes, o->capsizes * sizeof(long long));
		o->value_sizes = hf_xrealloc(o->value_sizes, o->capsizes * sizeof(long long));
		o->lengths = hf_xrealloc(o->lengths, o->capsizes * sizeof(long long));
		o->elem_sizes = hf_xrealloc(o->elem_sizes, o->capsizes * sizeof(long long));
		o->type_of = hf_xrealloc(o->type_of, o->capsizes);
	}
	o->elem_sizes[o->nsizes] = elem;
	o->key_sizes[o->nsizes] = (long long)klen;
	o->value_sizes[o->nsizes] = (long long)vlen;
	o->lengths[o->nsizes] = length;
	o->type_of[o->nsizes] = (unsigned char)type_index(type);
	o->nsizes++;
	o->types[type_index(type)]++;
}

void hf_stage_copy_release(struct hf_stage_copy *o)
{
	free(o->key_sizes);
	free(o->value_sizes);
	free(o->lengths);
	free(o->elem_sizes);
	free(o->type_of);
	o->key_sizes = o->value_sizes = o->lengths = o->elem_sizes = NULL;
	o->type_of = NULL;
	o->nsizes = o->capsizes = 0;
}

/* The commands that give the length of a key of type 't' (TYPE's word),
 * bytes of a string, elements of the others, and one of its elements (a
 * hash's as field and value); NULL for a stream's element and a module
 * type. */
static int size_cmds(const char *t, const char **len, const char **elem, const char **extra)
{
	static const char *const lens[HF_STAGE_OTHER] = {
		"STRLEN", "HLEN", "LLEN", "SCARD", "ZCARD", "XLEN",
	};
	static const char *const elems[HF_STAGE_OTHER] = {
		NULL, "HRANDFIELD", "LINDEX", "SRANDMEMBER", "ZRANDMEMBER", NULL,
	};
	int i = type_index(t);

	if (i >= HF_STAGE_OTHER)
		return 0;
	*len = lens[i];
	*elem = elems[i];
	*extra = i == HF_STAGE_HASH ? "1" : i == HF_STAGE_LIST ? "0" : NULL;
	return 1;
}

/* An element's size from the reply to size_cmds()' element command: a
 * bulk string, or a hash's [field, value] (the value's). */
static long long elem_size(const redisReply *r)
{
	if (r->type == REDIS_REPLY_STRING)
		return (long long)r->len;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
		return (long long)r->element[1]->len;
	return -1;
}

static void push_key_cmd(struct hf_argv *a, const char *cmd, const redisReply *key, const char *extra)
{
	hf_argv_push(a, cmd);
	hf_argv_pushb(a, key->str, key->len);
	if (extra)
		hf_argv_push(a, extra);
	if (extra && !strcmp(cmd, "HRANDFIELD"))
		hf_argv_push(a, "WITHVALUES");
}

/* The length of each of the 'n' keys whose TYPE replies are 'types' into
 * 'len' and the size of one of its elements into 'elem' (-1 where
 * unknown), in one more pipeline to the source: sizes the profile needs
 * and DUMP's (compressed) bytes do not tell. */
static int read_lengths(struct copier *cp, struct hf_conn *src, redisReply **keys,
			redisReply **types, size_t n, long long *len, long long *elem,
			struct hf_err *err)
{
	struct hf_argv *cmds = hf_xcalloc(2 * n + 1, sizeof(*cmds));
	redisReply **r = hf_xcalloc(2 * n + 1, sizeof(*r));
	size_t *at = hf_xcalloc(2 * n + 1, sizeof(*at)), i, m = 0;
	const char *lc, *ec, *extra;
	int rc;

	for (i = 0; i < n; i++) {
		len[i] = elem[i] = -1;
		if (types[i]->type != REDIS_REPLY_STATUS || !size_cmds(types[i]->str, &lc, &ec, &extra))
			continue;
		push_key_cmd(&cmds[m], lc, keys[i], NULL);
		at[m++] = 2 * i;
		if (ec) {
			push_key_cmd(&cmds[m], ec, keys[i], extra);
			at[m++] = 2 * i + 1;
		}
	}
	rc = m ? pipeline(src, cmds, m, cp->t, r, err) : 0;
	for (i = 0; i < m; i++) {
		if (!rc && at[i] % 2 == 0 && r[i]->type == REDIS_REPLY_INTEGER)
			len[at[i] / 2] = r[i]->integer;
		else if (!rc && at[i] % 2)
			elem[at[i] / 2] = elem_size(r[i]);
		if (r[i])
			freeReplyObject(r[i]);
		hf_argv_release(&cmds[i]);
	}
	free(cmds);
	free(r);
	free(at);
	return rc;
}

/* The RESTORE of key 'k' from its DUMP 'd' and expiry 'x' into 'a', or 0
 * when the key went away in between. */
static int restore_cmd(const struct copier *cp, const redisReply *k, const redisReply *d,
		       const redisReply *x, struct hf_argv *a)
{
	if (d->type != REDIS_REPLY_STRING || x->type != REDIS_REPLY_INTEGER || x->integer == -2)
		return 0;
	hf_argv_push(a, "RESTORE");
	hf_argv_pushb(a, k->str, k->len);
	hf_argv_pushf(a, "%lld", x->integer > 0 ? x->integer : 0LL);
	hf_argv_pushb(a, d->str, d->len);
	hf_argv_push(a, "REPLACE");
	if (cp->abs)
		hf_argv_push(a, "ABSTTL");
	return 1;
}

/* Send the RESTOREs, each to its slot's primary, and count the answers. */
static int restore_all(struct copier *cp, struct hf_argv *cmds, const int *to, size_t n,
		       struct hf_err *err)
{
	size_t nn = cp->m.c->nnodes, i, j, *count = hf_xcalloc(nn, sizeof(*count));
	redisReply **r = hf_xcalloc(n + 1, sizeof(*r));
	int rc = 0;

	for (j = 0; j < n; j++) {
		hf_conn_append(cp->m.conns[to[j]], &cmds[j]);
		count[to[j]]++;
	}
	for (i = 0; i < nn && !rc; i++)
		if (count[i] && hf_conn_flush(cp->m.conns[i], cp->t))
			rc = hf_err_set(err, HF_EUNREACH, "%s: cannot send: %s",
					hf_conn_addr(cp->m.conns[i]), hf_conn_error(cp->m.conns[i]));
	for (i = 0; i < nn && !rc; i++) {
		if (!count[i] || (rc = read_replies(cp->m.conns[i], count[i], cp->t, r, err)))
			continue;
		for (j = 0; j < count[i]; j++) {
			if (r[j]->type == REDIS_REPLY_ERROR) {
				if (!cp->out->failed++)
					snprintf(cp->out->first_error, sizeof(cp->out->first_error), "%s: %s",
						 hf_conn_addr(cp->m.conns[i]), r[j]->str);
			} else {
				cp->out->copied++;
			}
			freeReplyObject(r[j]);
		}
	}
	free(r);
	free(count);
	return rc;
}

static int target(const struct copier *cp, const char *key, size_t len)
{
	int o;

	if (!cp->m.c->cluster_mode)
		return cp->m.primary;
	o = cp->m.owner[hf_key_slot(key, len)];
	return o >= 0 ? o : cp->m.primary;
}

/* The first pipeline of a batch: DUMP, expiry and TYPE of each key. */
static int read_batch(struct copier *cp, struct hf_conn *src, redisReply **keys, size_t n,
		      redisReply **r, struct hf_err *err)
{
	struct hf_argv *cmds = hf_xcalloc(3 * n + 1, sizeof(*cmds));
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		hf_argv_push(&cmds[3 * i], "DUMP");
		hf_argv_push(&cmds[3 * i + 1], cp->abs ? "PEXPIRETIME" : "PTTL");
		hf_argv_push(&cmds[3 * i + 2], "TYPE");
		hf_argv_pushb(&cmds[3 * i], keys[i]->str, keys[i]->len);
		hf_argv_pushb(&cmds[3 * i + 1], keys[i]->str, keys[i]->len);
		hf_argv_pushb(&cmds[3 * i + 2], keys[i]->str, keys[i]->len);
	}
	rc = pipeline(src, cmds, 3 * n, cp->t, r, err);
	for (i = 0; i < 3 * n; i++)
		hf_argv_release(&cmds[i]);
	free(cmds);
	return rc;
}

/* DUMP, expiry, TYPE and length of 'n' keys from the source, then their
 * RESTOREs. */
static int copy_batch(struct copier *cp, struct hf_conn *src, redisReply **keys, size_t n,
		      struct hf_err *err)
{
	struct hf_argv *cmds = hf_xcalloc(n + 1, sizeof(*cmds));
	redisReply **r = hf_xcalloc(3 * n + 1, sizeof(*r)), **types = hf_xcalloc(n + 1, sizeof(*types));
	long long *len = hf_xcalloc(2 * n + 2, sizeof(*len)), *elem = len + n + 1;
	int *to = hf_xcalloc(n + 1, sizeof(*to));
	size_t i, nr = 0;
	int rc = read_batch(cp, src, keys, n, r, err);

	for (i = 0; !rc && i < n; i++)
		types[i] = r[3 * i + 2];
	if (!rc)
		rc = read_lengths(cp, src, keys, types, n, len, elem, err);
	for (i = 0; !rc && i < n; i++) {
		if (!restore_cmd(cp, keys[i], r[3 * i], r[3 * i + 1], &cmds[nr])) {
			cp->out->gone++;
			continue;
		}
		note_key(cp->out, keys[i]->len, r[3 * i]->len, r[3 * i + 2]->str, len[i], elem[i]);
		to[nr++] = target(cp, keys[i]->str, keys[i]->len);
	}
	if (!rc)
		rc = restore_all(cp, cmds, to, nr, err);
	for (i = 0; i < n; i++)
		hf_argv_release(&cmds[i]);
	for (i = 0; i < 3 * n; i++)
		if (r[i])
			freeReplyObject(r[i]);
	free(cmds);
	free(r);
	free(types);
	free(len);
	free(to);
	return rc;
}

/* SCAN one source primary and copy its sampled keys. */
static int copy_primary(struct copier *cp, const struct hf_node *p, struct hf_err *err)
{
	struct hf_conn *src = NULL;
	char cursor[32] = "0";
	long long taken = 0;
	int rc = hf_conn_open(&cp->s->c->uri, p->host, p->port, cp->t, &src, err);

	while (!rc) {
		redisReply *r = command(src, cp->t, err, "SCAN", cursor, "COUNT", SCAN_COUNT, NULL);
		redisReply **pick, *ks;
		size_t i, n = 0;

		if (!r) {
			rc = err->code;
			break;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element[0]->str) {
			rc = reply_error(p->id, "SCAN", r, err);
			freeReplyObject(r);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		ks = r->element[1];
		pick = hf_xcalloc(ks->elements + 1, sizeof(*pick));
		for (i = 0; i < ks->elements; i++) {
			if (cp->sample->per_primary > 0 && taken >= cp->sample->per_primary)
				break;
			cp->out->scanned++;
			if (sampled(cp->sample, ks->element[i]->str, ks->element[i]->len)) {
				pick[n++] = ks->element[i];
				taken++;
			}
		}
		rc = n ? copy_batch(cp, src, pick, n, err) : 0;
		free(pick);
		freeReplyObject(r);
		if (!strcmp(cursor, "0") || (cp->sample->per_primary > 0 && taken >= cp->sample->per_primary))
			break;
	}
	hf_conn_close(src);
	return rc;
}

int hf_stage_data(const struct hf_stage_source *s, const struct hf_uri *mirror,
		  const struct hf_stage_sample *sample, long timeout_ms,
		  struct hf_stage_copy *out, struct hf_err *err)
{
	struct copier cp = { .s = s, .sample = sample, .t = timeout_ms, .out = out };
	long long t0 = hf_mono_ms();
	size_t i;
	int rc;

	cp.abs = atoi(s->version) >= 7;
	if ((rc = mirror_open(mirror, timeout_ms, &cp.m, err))) {
		mirror_close(&cp.m);
		return rc;
	}
	for (i = 0; i < s->c->nnodes && !rc; i++)
		if (s->c->nodes[i].role == HF_ROLE_PRIMARY)
			rc = copy_primary(&cp, &s->c->nodes[i], err);
	out->seconds = (double)(hf_mono_ms() - t0) / 1000.0;
	mirror_close(&cp.m);
	return rc;
}
