/* The 'binary' kind: restart every node on another server binary, one node
 * per shard at a time, replicas first. A primary is never restarted while it
 * serves: it first hands its role to an in-sync replica (CLUSTER FAILOVER,
 * or FAILOVER TO without cluster mode), preferably one already on the new
 * build, and is restarted once it is a replica. A node is done when it
 * answers with the expected build and, as a replica, has caught up with
 * its primary.
 *
 * Local nodes (on this machine, started from a config file) are restarted
 * natively: SHUTDOWN, wait for the process to end, start the binary on the
 * same config file. Other nodes through the manifest's 'restart' template.
 *
 * The before-state is the build, version and executable a node runs, with
 * what it takes to start it again; rollback runs the same procedure back to
 * that executable. A node found down (hotfix was killed between stopping
 * and starting it) is started again by apply (new binary) or revert (old). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/kind.h"
#include "kinds/binary.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

#define MAX_REPLICAS 16
#define POLL_MS 50
/* Redis gives a manual failover 5 s; after that it is aborted and can be asked again. */
#define FAILOVER_MS 6000
#define FAILOVER_TRIES 3
#define DRAIN_MS 1000

/* What a node says about itself (INFO server, replication, persistence). */
struct live {
	int answered;
	int loading;
	char build[48], version[32];
	char exe[1024], config_file[1024];
	int pid;
	int primary;
	char master_host[64];
	int master_port;
	int link_up;
	long long offset;          /* master_repl_offset, or slave_repl_offset */
	struct {
		char host[64];
		int port;
		int online;
	} rep[MAX_REPLICAS];
	int nrep;
	char cluster_state[16];    /* "" without cluster mode */
	char why[256];
};

/* A binary a node runs or should run. */
struct want {
	char exe[1024];
	char build[48];
	char version[32];
	char config_file[1024];    /* to start the node natively */
	int native;                /* restarted by hotfix, not by the template */
};

static long short_timeout(const struct hf_cluster *c)
{
	return c->timeout_ms < 1000 ? c->timeout_ms : 1000;
}

static int command(struct hf_cluster *c, const char *host, int port, struct hf_argv *a,
		   struct hf_reply **out, char *why, size_t whylen)
{
	struct hf_err err = {0};
	int rc = hf_redis_command(&c->uri, host, port, short_timeout(c), a,
				  out, &err);

	if (rc)
		snprintf(why, whylen, "%.200s", err.msg);
	return rc;
}

static void parse_info(const char *info, struct live *l)
{
	struct hf_info_replica reps[MAX_REPLICAS];
	char v[1024];
	size_t i, n;

	hf_info_field(info, "redis_build_id", l->build, sizeof(l->build));
	hf_info_field(info, "redis_version", l->version, sizeof(l->version));
	hf_info_field(info, "executable", l->exe, sizeof(l->exe));
	hf_info_field(info, "config_file", l->config_file, sizeof(l->config_file));
	if (!hf_info_field(info, "process_id", v, sizeof(v)))
		l->pid = atoi(v);
	if (!hf_info_field(info, "loading", v, sizeof(v)))
		l->loading = atoi(v) != 0;
	if (!hf_info_field(info, "role", v, sizeof(v)))
		l->primary = !strcmp(v, "master");
	hf_info_field(info, "master_host", l->master_host, sizeof(l->master_host));
	if (!hf_info_field(info, "master_port", v, sizeof(v)))
		l->master_port = atoi(v);
	if (!hf_info_field(info, "master_link_status", v, sizeof(v)))
		l->link_up = !strcmp(v, "up");
	if (!hf_info_field(info, l->primary ? "master_repl_offset" : "slave_repl_offset", v,
			   sizeof(v)))
		l->offset = atoll(v);
	n = hf_info_replicas(info, reps, MAX_REPLICAS);
	for (i = 0; i < n && i < MAX_REPLICAS; i++) {
		_Static_assert(sizeof(l->rep[i].host) == sizeof(reps[i].ip), "host sizes");
		memcpy(l->rep[i].host, reps[i].ip, sizeof(l->rep[i].host));
		l->rep[i].port = reps[i].port;
		l->rep[i].online = !strcmp(reps[i].state, "online");
	}
	l->nrep = (int)i;
}

/* Ask 'host:port' about itself on a connection of its own. */
static void read_live(struct hf_cluster *c, const char *host, int port, struct live *l)
{
	struct hf_argv a = {0};
	struct hf_reply *r = NULL;

	memset(l, 0, sizeof(*l));
	hf_argv_push(&a, "INFO");
	hf_argv_push(&a, "server");
	hf_argv_push(&a, "replication");
	hf_argv_push(&a, "persistence");
	if (!command(c, host, port, &a, &r, l->why, sizeof(l->why))) {
		if (r->type == HF_REPLY_STRING) {
			l->answered = 1;
			parse_info(r->str, l);
		} else {
			snprintf(l->why, sizeof(l->why), "INFO: %s", r->str ? r->str : "no answer");
		}
	}
	hf_reply_free(r);
	hf_argv_release(&a);
	if (!l->answered || !c->cluster_mode)
		return;
	r = NULL;
	hf_argv_push(&a, "CLUSTER");
	hf_argv_push(&a, "INFO");
	if (!command(c, host, port, &a, &r, l->why, sizeof(l->why)) && r->type == HF_REPLY_STRING)
		hf_info_field(r->str, "cluster_state", l->cluster_state, sizeof(l->cluster_state));
	hf_reply_free(r);
	hf_argv_release(&a);
}

/* Whether nothing listens on 'host:port' (the connection is refused): a
 * node that is down, not one that is slow. */
static int port_closed(const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd, rc, closed = 0;

	if (inet_pton(AF_INET, !strcmp(host, "localhost") ? "127.0.0.1" : host, &sa.sin_addr) != 1)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	closed = rc < 0 && errno == ECONNREFUSED;
	close(fd);
	return closed;
}

/* Whether hotfix can restart this node itself: a process of this machine,
 * serving this port, started from a config file. 'why' says what is
 * missing. */
static int native_ok(const struct hf_node *n, const struct live *l, char *why, size_t len)
{
	char needle[32];

	snprintf(needle, sizeof(needle), ":%d", n->port);
	if (!hf_host_is_loopback(n->host, strlen(n->host)))
		snprintf(why, len, "it is not on this machine; give the change a 'restart' command");
	else if (!hf_proc_alive(l->pid) || !hf_proc_cmdline_has(l->pid, needle))
		snprintf(why, len, "its process %d is not visible on this machine; give the change a "
			 "'restart' command", l->pid);
	else if (!l->config_file[0])
		snprintf(why, len, "it was started without a config file, so it cannot be started "
			 "again the same way; give the change a 'restart' command");
	else
		return 1;
	return 0;
}

/* The build and version of the binary at 'path', from its --version. */
static int binary_build(const char *path, char *build, size_t blen, char *version, size_t vlen,
			char *why, size_t wlen)
{
	char out[512], *p;
	char *argv[] = { (char *)path, "--version", NULL };
	int rc = hf_proc_run(argv, 10000, out, sizeof(out));

	if (rc) {
		snprintf(why, wlen, "'%s --version' failed (%d): %.200s", path, rc, out);
		return -1;
	}
	p = strstr(out, "build=");
	if (!p) {
		snprintf(why, wlen, "'%s --version' names no build: %.200s", path, out);
		return -1;
	}
	snprintf(build, blen, "%.*s", (int)strspn(p + 6, "0123456789abcdefABCDEF"), p + 6);
	p = strstr(out, " v=");
	snprintf(version, vlen, "%.*s", p ? (int)strcspn(p + 3, " \n") : 0, p ? p + 3 : "");
	return 0;
}

/* The binary the change asks for. */
static int change_want(const struct hf_change *ch, struct want *w, char *why, size_t len)
{
	const struct hf_binary_spec *bs = ch->spec;
	memset(w, 0, sizeof(*w));
	snprintf(w->exe, sizeof(w->exe), "%s", bs->path);
	w->native = !bs->restart;
	if (bs->build) {
		snprintf(w->build, sizeof(w->build), "%s", bs->build);
		if (access(bs->path, X_OK) == 0) {
			char b[48];

			if (binary_build(bs->path, b, sizeof(b), w->version, sizeof(w->version), why,
					 len))
				return -1;
			if (strcmp(b, bs->build)) {
				snprintf(why, len, "'%s' reports build %s, not the build %s the change names",
					 bs->path, b, bs->build);
				return -1;
			}
		}
		return 0;
	}
	return binary_build(bs->path, w->build, sizeof(w->build), w->version,
			    sizeof(w->version), why, len);
}

static char *state_json(const struct live *l, int native)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "build", l->build, "version", l->version,
			      "executable", l->exe, "config_file", l->config_file, "restart",
			      native ? "native" : "template");
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	return s;
}

static int blob_want(const char *blob, struct want *w)
{
	json_t *j = blob ? json_loads(blob, 0, NULL) : NULL;
	const char *b, *e, *cf, *v, *rs;

	memset(w, 0, sizeof(*w));
	if (!j)
		return -1;
	b = json_string_value(json_object_get(j, "build"));
	e = json_string_value(json_object_get(j, "executable"));
	cf = json_string_value(json_object_get(j, "config_file"));
	v = json_string_value(json_object_get(j, "version"));
	rs = json_string_value(json_object_get(j, "restart"));
	if (!b || !e) {
		json_decref(j);
		return -1;
	}
	snprintf(w->build, sizeof(w->build), "%s", b);
	snprintf(w->exe, sizeof(w->exe), "%s", e);
	snprintf(w->config_file, sizeof(w->config_file), "%s", cf ? cf : "");
	snprintf(w->version, sizeof(w->version), "%s", v ? v : "");
	w->native = rs && !strcmp(rs, "native");
	json_decref(j);
	return 0;
}

/* Whether the node runs 'w': the build always, the executable too when
 * hotfix starts the node itself (a template may start it through a
 * wrapper). */
static int runs(const struct live *l, const struct want *w)
{
	return !strcmp(l->build, w->build) && (!w->native || !strcmp(l->exe, w->exe));
}

/* ---- the rolling restart ------------------------------------------- */

enum phase { PH_CHECK, PH_FAILOVER, PH_STOPPING, PH_STARTING, PH_SYNCING, PH_DONE, PH_FAILED };

struct job {
	struct hf_target *t;
	struct want want;
	enum phase ph;
	long long deadline;        /* of the whole job */
	long long phase_deadline;  /* of a failover */
	int pid;                   /* the process being stopped */
	char config_file[1024];    /* of the process being stopped */
	char peer_host[64];        /* the replica taking over */
	int peer_port;
	long long sync_to;         /* the primary offset to reach; -1: not read yet */
	int was_primary;           /* a primary when the batch started */
	int expect_replica;        /* the node must come back as a replica */
	int failovers;             /* attempts so far */
	long long drain_until;     /* after a failover: when to stop the old primary */
	long long replica_wait_until;  /* a primary waiting for an in-sync replica */
	char what[160];            /* what the job is waiting for, for errors */
};

static void fail(struct job *jb, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct job *jb, int status, const char *fmt, ...)
{
	va_list ap;

	jb->t->status = status;
	va_start(ap, fmt);
	vsnprintf(jb->t->error, sizeof(jb->t->error), fmt, ap);
	va_end(ap);
	jb->ph = PH_FAILED;
}

/* 'out' = 's' quoted for /bin/sh. */
static void shell_quote(struct hf_buf *out, const char *s)
{
	hf_buf_puts(out, "'");
	for (; *s; s++) {
		if (*s == '\'')
			hf_buf_puts(out, "'\\''");
		else
			hf_buf_append(out, s, 1);
	}
	hf_buf_puts(out, "'");
}

static void run_template(const struct hf_change *ch, struct job *jb)
{
	const struct hf_binary_spec *bs = ch->spec;
	const struct hf_node *n = jb->t->node;
	struct hf_buf cmd = {0};
	const char *p = bs->restart;
	char port[16], out[512];
	char *argv[] = { "/bin/sh", "-c", NULL, NULL };
	long long left = jb->deadline - hf_mono_ms();
	int rc;

	snprintf(port, sizeof(port), "%d", n->port);
	while (*p) {
		if (!strncmp(p, "{host}", 6)) {
			shell_quote(&cmd, n->host);
			p += 6;
		} else if (!strncmp(p, "{port}", 6)) {
			shell_quote(&cmd, port);
			p += 6;
		} else if (!strncmp(p, "{binary}", 8)) {
			shell_quote(&cmd, jb->want.exe);
			p += 8;
		} else if (!strncmp(p, "{id}", 4)) {
			shell_quote(&cmd, n->id);
			p += 4;
		} else {
			hf_buf_append(&cmd, p++, 1);
		}
	}
	argv[2] = cmd.s;
	rc = hf_proc_run(argv, left > 1000 ? (long)left : 1000, out, sizeof(out));
	if (rc)
		fail(jb, HF_ERR, "restart command failed (%d): %.300s", rc, out);
	else
		jb->ph = PH_STARTING;
	hf_buf_release(&cmd);
}

static void start_native(struct job *jb)
{
	char dir[1024], why[512], *slash;
	char *argv[] = { jb->want.exe, jb->config_file, NULL };

	/* From the config file's directory: a relative 'dir' in it means what
	 * it meant when the node was started there. */
	snprintf(dir, sizeof(dir), "%s", jb->config_file);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (hf_proc_spawn(argv, slash ? dir : NULL, NULL, why, sizeof(why)))
		fail(jb, HF_ERR, "%s", why);
	else
		jb->ph = PH_STARTING;
}

/* Stop the node (a replica by now, or a primary the change accepts to take
 * down): natively with SHUTDOWN, or through the template. */
static void stop(struct hf_cluster *c, const struct hf_change *ch, struct job *jb,
		 const struct live *l)
{
	struct hf_node *n = jb->t->node;
	struct hf_argv a = {0};
	struct hf_reply *r = NULL;
	char why[256];

	hf_node_disconnect(n);
	if (!jb->want.native) {
		run_template(ch, jb);
		return;
	}
	if (!native_ok(n, l, why, sizeof(why))) {
		fail(jb, HF_ERR, "cannot restart it: %s", why);
		return;
	}
	jb->pid = l->pid;
	jb->expect_replica = !l->primary;
	snprintf(jb->config_file, sizeof(jb->config_file), "%s", l->config_file);
	hf_argv_push(&a, "SHUTDOWN");
	/* A primary without replica keeps its data through a snapshot. */
	if (l->primary)
		hf_argv_push(&a, "SAVE");
	/* A shutdown that works answers nothing: the connection just closes. */
	if (!command(c, n->host, n->port, &a, &r, why, sizeof(why)) && r->type == HF_REPLY_ERROR)
		fail(jb, HF_ERR, "SHUTDOWN refused: %s", r->str);
	else
		jb->ph = PH_STOPPING;
	hf_reply_free(r);
	hf_argv_release(&a);
}

/* A primary: hand the role to an in-sync replica, preferably one already
 * on the wanted build. */
static void failover(struct hf_cluster *c, const struct hf_change *ch, struct job *jb,
		     const struct live *l)
{
	const struct hf_binary_spec *bs = ch->spec;
	struct hf_node *n = jb->t->node;
	struct hf_argv a = {0};
	struct hf_reply *r = NULL;
	int i, best = -1, best_on_want = 0;
	char why[256];

	for (i = 0; i < l->nrep; i++) {
		struct live rl;

		if (!l->rep[i].online)
			continue;
		read_live(c, l->rep[i].host, l->rep[i].port, &rl);
		if (!rl.answered || !rl.link_up || rl.loading)
			continue;
		if (best < 0 || (!best_on_want && !strcmp(rl.build, jb->want.build))) {
			best = i;
			best_on_want = !strcmp(rl.build, jb->want.build);
		}
	}
	if (best < 0) {
		if (l->nrep == 0 && bs->confirm) {
			stop(c, ch, jb, l);   /* the plan said so: this shard goes down */
			return;
		}
		/* A replica may be on its way (restarting, or a failover that a
		 * killed run started still settling): give it a while. */
		if (!jb->replica_wait_until)
			jb->replica_wait_until = hf_mono_ms() + FAILOVER_MS;
		if (hf_mono_ms() < jb->replica_wait_until) {
			snprintf(jb->what, sizeof(jb->what), "an in-sync replica to fail over to");
			return;
		}
		fail(jb, HF_ERR, "primary with no in-sync replica to fail over to; it stays as it is");
		return;
	}
	snprintf(jb->peer_host, sizeof(jb->peer_host), "%s", l->rep[best].host);
	jb->peer_port = l->rep[best].port;
	if (c->cluster_mode) {
		hf_argv_push(&a, "CLUSTER");
		hf_argv_push(&a, "FAILOVER");
		i = command(c, jb->peer_host, jb->peer_port, &a, &r, why, sizeof(why));
	} else {
		hf_argv_push(&a, "FAILOVER");
		hf_argv_push(&a, "TO");
		hf_argv_push(&a, jb->peer_host);
		hf_argv_pushf(&a, "%d", jb->peer_port);
		i = command(c, n->host, n->port, &a, &r, why, sizeof(why));
	}
	if (i)
		fail(jb, HF_ERR, "failover to %s:%d: %s", jb->peer_host, jb->peer_port, why);
	else if (r->type == HF_REPLY_ERROR)
		fail(jb, HF_ERR, "failover to %s:%d refused: %s", jb->peer_host, jb->peer_port, r->str);
	else {
		hf_crashpoint("failover");
		jb->failovers++;
		jb->ph = PH_FAILOVER;
		jb->phase_deadline = hf_mono_ms() + FAILOVER_MS;
		snprintf(jb->what, sizeof(jb->what), "failover to %s:%d", jb->peer_host, jb->peer_port);
	}
	hf_reply_free(r);
	hf_argv_release(&a);
}

/* PH_CHECK, 'jb's node does not answer. Down, not slow: a run killed
 * between stop and start left it so. Start it again on the wanted binary
 * if nothing listens on its port; otherwise it is unreachable. */
static void start_down_node(struct hf_cluster *c, const struct hf_change *ch, struct job *jb,
			    const struct live *l)
{
	struct hf_node *n = jb->t->node;

	/* It was a replica unless it is alone in its shard. */
	for (size_t k = 0; k < c->nnodes; k++)
		if (&c->nodes[k] != n && c->nodes[k].shard == n->shard)
			jb->expect_replica = 1;
	if (jb->want.native && jb->want.config_file[0] &&
	    hf_host_is_loopback(n->host, strlen(n->host)) &&
	    port_closed(n->host, n->port)) {
		snprintf(jb->config_file, sizeof(jb->config_file), "%s", jb->want.config_file);
		start_native(jb);
	} else if (!jb->want.native && port_closed(n->host, n->port)) {
		run_template(ch, jb);
	} else {
		fail(jb, HF_EUNREACH, "%s", l->why);
	}
	snprintf(jb->what, sizeof(jb->what), "the node to start");
}

/* PH_CHECK: the first look at the node. One already on the wanted binary
 * only has to sync; a replica is stopped, a primary first fails over,
 * when no other failover in the cluster is under way ('*fo_busy'). */
static void step_check(struct hf_cluster *c, const struct hf_change *ch, struct job *jb,
		       int *fo_busy)
{
	struct hf_node *n = jb->t->node;
	struct live l;

	read_live(c, n->host, n->port, &l);
	if (!l.answered) {
		start_down_node(c, ch, jb, &l);
		return;
	}
	if (l.loading)
		return;
	if (runs(&l, &jb->want)) {
		jb->ph = PH_SYNCING;
		snprintf(jb->what, sizeof(jb->what), "the node to sync");
		return;
	}
	if (l.primary) {
		/* One election at a time in the whole cluster: primaries
		 * grant one vote per epoch, so two replicas of different
		 * shards asking at once can both lose. */
		if (*fo_busy)
			return;
		failover(c, ch, jb, &l);
		*fo_busy = jb->ph == PH_FAILOVER;
	} else {
		stop(c, ch, jb, &l);
	}
	if (jb->ph == PH_STOPPING)
		snprintf(jb->what, sizeof(jb->what), "process %d to stop", jb->pid);
}

/* PH_FAILOVER: wait for the roles to flip, then for clients to drain,
 * and stop the old primary. A failover Redis gave up on is asked again,
 * up to FAILOVER_TRIES times; '*fo_busy' is cleared once it is settled. */
static void step_failover(struct hf_cluster *c, const struct hf_change *ch, struct job *jb,
			  int *fo_busy)
{
	struct hf_node *n = jb->t->node;
	struct live l, peer;

	read_live(c, n->host, n->port, &l);
	read_live(c, jb->peer_host, jb->peer_port, &peer);
	if (l.answered && !l.primary && peer.answered && peer.primary) {
		*fo_busy = 0;
		/* Clients learn the new primary from their next reply
		 * (MOVED, READONLY): give them that long before the
		 * old one closes their connections. */
		if (!jb->drain_until) {
			jb->drain_until = hf_mono_ms() + DRAIN_MS;
			snprintf(jb->what, sizeof(jb->what), "clients to leave the old primary");
		}
		if (hf_mono_ms() < jb->drain_until)
			return;
		stop(c, ch, jb, &l);
		if (jb->ph == PH_STOPPING)
			snprintf(jb->what, sizeof(jb->what), "process %d to stop", jb->pid);
	} else if (hf_mono_ms() > jb->phase_deadline && l.answered && l.primary &&
		   jb->failovers < FAILOVER_TRIES) {
		failover(c, ch, jb, &l);   /* Redis gave up on it: ask again */
		*fo_busy = jb->ph == PH_FAILOVER;
	} else if (hf_mono_ms() > jb->phase_deadline) {
		*fo_busy = 0;
		fail(jb, HF_ERR, "failover to %s:%d did not complete (%d attempts of %d ms); the "
		     "node is still %s", jb->peer_host, jb->peer_port, jb->failovers, FAILOVER_MS,
		     l.answered && !l.primary ? "a replica" : "the primary");
	}
}

/* PH_STOPPING: once the process is gone and its port closed, start the
 * node natively on the wanted binary. */
static void step_stopping(struct job *jb)
{
	struct hf_node *n = jb->t->node;

	if (!hf_proc_alive(jb->pid) && port_closed(n->host, n->port)) {
		hf_crashpoint("stopped");   /* the node is down until a resume */
		start_native(jb);
		snprintf(jb->what, sizeof(jb->what), "the node to answer on build %s", jb->want.build);
	}
}

/* Read what 'jb's node says into 'l'; whether it answered and is done
 * loading its data, so that its build and role mean something. */
static int read_ready(struct hf_cluster *c, const struct job *jb, struct live *l)
{
	read_live(c, jb->t->node->host, jb->t->node->port, l);
	return l->answered && !l->loading;
}

/* PH_STARTING: wait for the node to answer, done loading, and check it
 * came back on the wanted binary. */
static void step_starting(struct hf_cluster *c, struct job *jb)
{
	struct live l;

	if (!read_ready(c, jb, &l))
		return;
	if (!runs(&l, &jb->want)) {
		fail(jb, HF_ERR, "came back on build %s (%s), not %s (%s)", l.build, l.exe,
		     jb->want.build, jb->want.exe);
		return;
	}
	jb->ph = PH_SYNCING;
	jb->sync_to = -1;
	snprintf(jb->what, sizeof(jb->what), "the replica to sync with its primary");
}

/* PH_SYNCING: the job is done when the node is a primary it may be, or a
 * replica with its link up that reached its primary's offset (read once,
 * into 'jb->sync_to'). */
static void step_syncing(struct hf_cluster *c, struct job *jb)
{
	struct live l;

	if (!read_ready(c, jb, &l))
		return;
	if (c->cluster_mode && strcmp(l.cluster_state, "ok"))
		return;
	/* A node starting in cluster mode says "master" for a moment,
	 * until it reads its role from its nodes.conf. */
	if (l.primary) {
		if (!jb->expect_replica)
			jb->ph = PH_DONE;
		return;
	}
	if (!l.link_up)
		return;
	if (jb->sync_to < 0) {
		struct live p;

		read_live(c, l.master_host, l.master_port, &p);
		if (!p.answered)
			return;
		jb->sync_to = p.offset;
	}
	if (l.offset >= jb->sync_to)
		jb->ph = PH_DONE;
}

/* Advance one job by one look at its node; never blocks for long.
 * '*fo_busy' says whether a failover is under way in the cluster. */
static void step(struct hf_cluster *c, const struct hf_change *ch, struct job *jb, int *fo_busy)
{
	const struct hf_binary_spec *bs = ch->spec;

	if (hf_mono_ms() > jb->deadline) {
		fail(jb, HF_ERR, "gave up after %lld ms waiting for %s", bs->timeout_ms,
		     jb->what[0] ? jb->what : "the node");
		return;
	}
	switch (jb->ph) {
	case PH_CHECK:
		step_check(c, ch, jb, fo_busy);
		return;
	case PH_FAILOVER:
		step_failover(c, ch, jb, fo_busy);
		return;
	case PH_STOPPING:
		step_stopping(jb);
		return;
	case PH_STARTING:
		step_starting(c, jb);
		return;
	case PH_SYNCING:
		step_syncing(c, jb);
		return;
	case PH_DONE:
	case PH_FAILED:
		return;
	}
}

/* Bring every job's node onto its wanted binary: shards in parallel, one
 * node per shard at a time, live replicas before live primaries. A failure
 * stops its shard (the nodes after it are not touched). */
static void run_jobs(struct hf_cluster *c, const struct hf_change *ch, struct job *jobs, size_t n)
{
	const struct hf_binary_spec *bs = ch->spec;
	size_t i, k;
	int busy, fo_busy = 0, asked, refused = 0;
	struct hf_err topo = {0};

	/* Order: shard, then live replicas first. */
	for (i = 0; i < n; i++) {
		struct live l;

		read_live(c, jobs[i].t->node->host, jobs[i].t->node->port, &l);
		jobs[i].was_primary = l.answered && l.primary;
	}
	for (i = 1; i < n; i++)
		for (k = i; k > 0; k--) {
			struct job *a = &jobs[k - 1], *b = &jobs[k];
			struct job tmp;

			if (a->t->node->shard < b->t->node->shard ||
			    (a->t->node->shard == b->t->node->shard && a->was_primary <= b->was_primary))
				break;
			tmp = *a;
			*a = *b;
			*b = tmp;
		}
	do {
		busy = 0;
		asked = 0;
		for (i = 0; i < n; i++) {
			struct job *jb = &jobs[i];

			if (jb->ph == PH_DONE)
				continue;
			if (jb->ph == PH_FAILED) {
				/* The shard's next nodes are not touched. */
				for (k = i + 1; k < n && jobs[k].t->node->shard == jb->t->node->shard; k++)
					if (jobs[k].ph != PH_DONE && jobs[k].ph != PH_FAILED)
						fail(&jobs[k], HF_ERR, "not restarted: node %s:%d of the same "
						     "shard failed first", jb->t->node->host,
						     jb->t->node->port);
				continue;
			}
			if (i && jobs[i - 1].t->node->shard == jb->t->node->shard &&
			    jobs[i - 1].ph != PH_DONE && jobs[i - 1].ph != PH_FAILED)
				continue;   /* one node per shard at a time */
			if (!jb->deadline) {
				/* No restart on a topology the nodes disagree about: it
				 * could take a primary and its replica down together. */
				if (!asked++ && !refused)
					refused = hf_cluster_converge(c, &topo) != 0;
				if (refused) {
					fail(jb, HF_EREFUSED, "not restarted: %s", topo.msg);
					continue;
				}
				jb->deadline = hf_mono_ms() + bs->timeout_ms;
				jb->sync_to = -1;
			}
			step(c, ch, jb, &fo_busy);
			busy |= jb->ph != PH_DONE && jb->ph != PH_FAILED;
		}
		if (busy)
			hf_sleep_ms(POLL_MS);
	} while (busy);
	for (i = 0; i < n; i++)
		hf_node_disconnect(jobs[i].t->node);
}

/* ---- the kind's operations ----------------------------------------- */

static int version_cmp_minor(const char *a, const char *b)
{
	int a1 = 0, a2 = 0, b1 = 0, b2 = 0;

	sscanf(a, "%d.%d", &a1, &a2);
	sscanf(b, "%d.%d", &b1, &b2);
	return a1 != b1 ? a1 - b1 : a2 - b2;
}

/* The body of a binary change: the server binary every node is restarted
 * on, and how. Without 'restart' the nodes must be local, and hotfix stops
 * and starts them itself; the binary must then exist here. */
static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	enum { F_PATH, F_RESTART, F_BUILD, F_TIMEOUT, F_CONFIRM, F_N };
	struct hf_field f[F_N] = {
		[F_PATH] = { .name = "path", .required = 1 },
		[F_RESTART] = { .name = "restart" },
		[F_BUILD] = { .name = "build" },
		[F_TIMEOUT] = { .name = "timeout" },
		[F_CONFIRM] = { .name = "confirm" },
	};
	struct hf_binary_spec *bs = hf_xcalloc(1, sizeof(*bs));
	const char *path, *p;
	int rc;

	ch->spec = bs;
	bs->timeout_ms = 60000;
	rc = hf_yaml_walk(y, body->val, body->pos, "'binary'", f, F_N);
	if (rc)
		return rc;
	if (m->nchanges > 1)
		return hf_yaml_fail(y, body->pos, "a binary change must be the only change of its "
				    "manifest (a restart would drop runtime changes made alongside it)");
	path = hf_yaml_scalar(y, f[F_PATH].val, f[F_PATH].pos, "path", "the path of a server binary");
	if (!path)
		return HF_EINVAL;
	if (!*path)
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_PATH].val, f[F_PATH].pos),
				    "'path' must not be empty");
	bs->path = hf_yaml_relative(y, path);
	if (f[F_RESTART].seen) {
		struct hf_pos rpos = hf_yaml_pos(y, f[F_RESTART].val, f[F_RESTART].pos);

		rc = hf_yaml_text(y, &f[F_RESTART], &bs->restart);
		if (rc)
			return rc;
		if (!strstr(bs->restart, "{port}"))
			return hf_yaml_fail(y, rpos, "'restart' must name the node, with {port} (and "
					    "{host}, {binary}, {id} as needed)");
		for (p = bs->restart; (p = strchr(p, '{')); p++)
			if (strncmp(p, "{host}", 6) && strncmp(p, "{port}", 6) &&
			    strncmp(p, "{binary}", 8) && strncmp(p, "{id}", 4))
				return hf_yaml_fail(y, rpos, "unknown placeholder '%.*s' in 'restart' "
						    "(expected {host}, {port}, {binary} or {id})",
						    (int)strcspn(p, "} ") + 1, p);
	}
	if (f[F_BUILD].seen) {
		rc = hf_yaml_text(y, &f[F_BUILD], &bs->build);
		if (rc)
			return rc;
		for (p = bs->build; *p && isxdigit((unsigned char)*p); p++)
			;
		if (*p || strlen(bs->build) > 40)
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_BUILD].val, f[F_BUILD].pos),
					    "invalid build '%s' (expected the hex id that INFO server "
					    "reports as redis_build_id)", bs->build);
	}
	if (f[F_TIMEOUT].seen && (rc = hf_yaml_duration(y, &f[F_TIMEOUT], 1, &bs->timeout_ms)))
		return rc;
	if (f[F_CONFIRM].seen && (rc = hf_yaml_bool(y, &f[F_CONFIRM], &bs->confirm)))
		return rc;
	if (!bs->restart || !bs->build) {
		struct stat st;
		const char *why = NULL;

		if (stat(bs->path, &st))
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		else if (access(bs->path, X_OK))
			why = strerror(errno);
		if (why)
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_PATH].val, f[F_PATH].pos),
					    "cannot run server binary '%s': %s", bs->path, why);
	}
	return 0;
}

/* A primary is upgraded by failing over to an upgraded replica. */
static int validate(struct hf_yaml *y, const struct hf_change *ch, const struct hf_manifest *m)
{
	if (m->order == HF_ORDER_PRIMARIES_FIRST)
		return hf_yaml_fail(y, ch->pos, "a binary change rolls out replicas first (a primary "
				    "is upgraded by failing over to an upgraded replica); remove "
				    "'order: primaries-first'");
	return 0;
}

static void spec_free(void *spec)
{
	struct hf_binary_spec *bs = spec;

	free(bs->path);
	free(bs->restart);
	free(bs->build);
	free(bs);
}

static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n,
		struct hf_err *err)
{
	struct hf_cluster *c = x->c;
	const struct hf_binary_spec *bs = ch->spec;
	struct want w;
	char why[512];
	size_t i, k;

	if (change_want(ch, &w, why, sizeof(why)))
		return hf_err_set(err, HF_EINVAL, "%d:%d: %s", ch->pos.line, ch->pos.col, why);
	for (i = 0; i < n; i++) {
		struct hf_node *nd = t[i].node;
		struct live l;
		int replicas = 0;

		read_live(c, nd->host, nd->port, &l);
		if (!l.answered) {
			hf_target_set(&t[i], HF_EUNREACH, "%s", l.why);
			continue;
		}
		if (runs(&l, &w))
			continue;
		if (w.native && !native_ok(nd, &l, why, sizeof(why)))
			return hf_err_set(err, HF_EINVAL, "%d:%d: node %s:%d cannot be restarted by "
					  "hotfix: %s", ch->pos.line, ch->pos.col, nd->host, nd->port,
					  why);
		if (w.version[0] && version_cmp_minor(l.version, w.version) && !bs->confirm)
			return hf_err_set(err, HF_EINVAL, "%d:%d: node %s:%d runs Redis %s and the new "
					  "binary is %s: a change of release can change the RDB format, "
					  "and a node that saved in the newer one cannot go back (a point "
					  "of no return); add 'confirm: true' to go ahead",
					  ch->pos.line, ch->pos.col, nd->host, nd->port, l.version,
					  w.version);
		for (k = 0; k < c->nnodes; k++)
			replicas += c->nodes[k].shard == nd->shard && c->nodes[k].role == HF_ROLE_REPLICA;
		if (!replicas && !bs->confirm)
			return hf_err_set(err, HF_EINVAL, "%d:%d: shard of %s:%d has no replica, so "
					  "restarting its primary takes the shard down; add "
					  "'confirm: true' to accept that", ch->pos.line, ch->pos.col,
					  nd->host, nd->port);
		hf_target_add_diff(&t[i], "binary: %s (%s, build %s) -> %s (%s, build %s)%s", l.exe,
				   l.version, l.build, w.exe, w.version[0] ? w.version : "?", w.build,
				   nd->role == HF_ROLE_PRIMARY ? "; fails over to a replica first" : "");
	}
	return 0;
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n)
{
	struct hf_cluster *c = x->c;
	const struct hf_binary_spec *bs = ch->spec;
	size_t i;

	for (i = 0; i < n; i++) {
		struct live l;
		char why[256];

		t[i].status = 0;
		read_live(c, t[i].node->host, t[i].node->port, &l);
		if (!l.answered && t[i].step->before)
			continue;   /* resumed with the node down: what it ran is known */
		if (!l.answered) {
			hf_target_set(&t[i], HF_EUNREACH, "%s", l.why);
			continue;
		}
		if (!bs->restart && !native_ok(t[i].node, &l, why, sizeof(why))) {
			hf_target_set(&t[i], HF_ERR, "cannot restart it: %s", why);
			continue;
		}
		free(t[i].step->before);
		t[i].step->before = state_json(&l, !bs->restart);
	}
}

static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		  size_t n)
{
	struct hf_cluster *c = x->c;
	struct job *jobs = hf_xcalloc(n ? n : 1, sizeof(*jobs));
	struct want w;
	char why[512];
	size_t i;

	if (change_want(ch, &w, why, sizeof(why))) {
		for (i = 0; i < n; i++)
			hf_target_set(&t[i], HF_ERR, "%s", why);
		free(jobs);
		return;
	}
	for (i = 0; i < n; i++) {
		struct want before;

		t[i].status = 0;
		jobs[i].t = &t[i];
		jobs[i].want = w;
		/* The config file to start a node found down is its own. */
		if (!blob_want(t[i].step->before, &before))
			snprintf(jobs[i].want.config_file, sizeof(jobs[i].want.config_file), "%s",
				 before.config_file);
	}
	run_jobs(c, ch, jobs, n);
	free(jobs);
}

static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	struct hf_cluster *c = x->c;
	size_t i;
	struct want w;
	char why[512];
	int have_after = side == HF_SIDE_AFTER && !change_want(ch, &w, why, sizeof(why));

	for (i = 0; i < n; i++) {
		struct live l;

		t[i].status = 0;
		t[i].match = 0;
		if (side == HF_SIDE_BEFORE ? blob_want(t[i].step->before, &w) : !have_after) {
			hf_target_set(&t[i], HF_ERR, "%s", side == HF_SIDE_BEFORE ?
				      "no before-state recorded" : why);
			continue;
		}
		read_live(c, t[i].node->host, t[i].node->port, &l);
		if (!l.answered) {
			hf_target_set(&t[i], HF_EUNREACH, "%s", l.why);
			continue;
		}
		t[i].match = runs(&l, &w) && (l.primary || l.link_up);
		if (t[i].match && side == HF_SIDE_AFTER) {
			free(t[i].step->after);
			t[i].step->after = state_json(&l, w.native);
		}
	}
}

static void revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, unsigned flags)
{
	int force = !!(flags & HF_REVERT_FORCE);
	struct hf_cluster *c = x->c;
	struct job *jobs = hf_xcalloc(n ? n : 1, sizeof(*jobs));
	struct want after;
	char why[512];
	size_t i, m = 0;
	int have_after = !change_want(ch, &after, why, sizeof(why));

	for (i = 0; i < n; i++) {
		struct want before;
		struct live l;

		t[i].status = 0;
		t[i].match = 0;
		if (blob_want(t[i].step->before, &before)) {
			hf_target_set(&t[i], HF_ERR, "no before-state recorded");
			continue;
		}
		read_live(c, t[i].node->host, t[i].node->port, &l);
		if (l.answered && runs(&l, &before) && (l.primary || l.link_up)) {
			t[i].match = 1;   /* already back */
			continue;
		}
		if (l.answered && !runs(&l, &before) && !force &&
		    !(have_after && !strcmp(l.build, after.build))) {
			hf_target_set(&t[i], HF_ECONFLICT, "runs build %s (%s), neither the build before "
				      "the hotfix (%s) nor the hotfix's (%s): someone else changed it",
				      l.build, l.exe, before.build, have_after ? after.build : "?");
			continue;
		}
		jobs[m].t = &t[i];
		jobs[m].want = before;
		m++;
	}
	run_jobs(c, ch, jobs, m);
	for (i = 0; i < m; i++)
		if (!jobs[i].t->status)
			jobs[i].t->match = 1;
	free(jobs);
}

const struct hf_change_kind hf_kind_binary = {
	.name = "binary",
	.flags = HF_KIND_RESTARTS_NODES,
	.parse = parse,
	.free = spec_free,
	.validate = validate,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = revert,
};
