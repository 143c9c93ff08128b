/* Sandbox clusters: start real redis-server processes on loopback ports,
 * join them into a Redis Cluster (or a primary with replicas), describe
 * them and stop them again. Talks to the nodes only through the engine's
 * fan-out; printing is left to src/cmd/sandbox.c. */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/redis/redis.h"
#include "sandbox/certs.h"
#include "sandbox/netns.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

#define HOST "127.0.0.1"
#define BUS_OFFSET 10000
#define MAX_NODES 500
#define SLOTS 16384
#define MARKER ".hotfix-sandbox"
#define STATE_FILE "sandbox.json"
#define TLS_DIR "tls"              /* the CA and certificates of a TLS sandbox */

/* The fixed parts of the waits; each grows with the number of nodes (see
 * the functions below), as a big sandbox's nodes share the machine. */
#define UP_TIMEOUT_MS 60000     /* whole of 'up', up to UP_TIMEOUT_NODES nodes */
#define UP_TIMEOUT_NODES 100
#define UP_TIMEOUT_PER_NODE_MS 500
#define POLL_MS 50              /* between looks, up to POLL_MAX_MS for big sandboxes */
#define POLL_MAX_MS 250
#define CMD_TIMEOUT_MS 2000     /* one command to a node that should answer */
#define PROBE_TIMEOUT_MS 500    /* one command to a node that may be hung */
#define TERM_TIMEOUT_MS 15000   /* SIGTERM to SIGKILL; redis waits up to 10 s for lagging replicas */
#define KILL_TIMEOUT_MS 5000
#define SETTLE_TIMEOUT_MS 5000  /* a failed 'up' waits for nodes still booting */
#define PER_NODE_MS 10          /* added to the deadlines of a command and a stop */
#define NODE_TIMEOUT_MS 2000    /* cluster-node-timeout, up to NODE_TIMEOUT_NODES nodes */
#define NODE_TIMEOUT_NODES 100
#define NODE_TIMEOUT_PER_NODE_MS 20

struct node {
	int port;
	int shard;
	int replica;       /* started as a replica */
	size_t primary;    /* replicas: index of their primary in 'nodes' */
	int pid;           /* the daemon's pid, 0 until known */
	int starter;       /* the daemonizing parent until reaped, else 0 */
	int spawned;
	int failed;        /* its start failed: no daemon to wait for */
	int ready;
	char *id;          /* cluster node id */
	char *dir;         /* "<sandbox dir>/<port>" */
	char host[48];     /* its address: HOST, or its namespace's (--netns) */
};

struct sandbox {
	char *dir;         /* absolute */
	int cluster;
	int shards;
	int replicas;
	int base_port;
	int has_password;
	char *password;    /* NULL when none (or not readable any more) */
	int tls;           /* the nodes speak TLS only (port 0, tls-port) */
	int ipv6;          /* the nodes listen on ::1 too */
	int net;           /* --netns: the network (netns.h) of the nodes' namespaces, else 0 */
	char *server;      /* absolute path of redis-server */
	struct node *nodes;
	size_t n;
	struct hf_cluster *fan;  /* the nodes' connections, once opened */
	const int *const *ranges;  /* hf_sandbox_opts' slot ranges (borrowed), or NULL */
	const size_t *nranges;
	long long t0;              /* when 'up' started the processes */
	long long timeout_ms;      /* how long it may take from then */
	void (*progress)(const struct hf_sandbox_progress *p, void *ud);
	void *progress_ud;
};

long long hf_sandbox_up_timeout_ms(size_t nodes)
{
	if (nodes <= UP_TIMEOUT_NODES)
		return UP_TIMEOUT_MS;
	return UP_TIMEOUT_MS + (long long)(nodes - UP_TIMEOUT_NODES) * UP_TIMEOUT_PER_NODE_MS;
}

long hf_sandbox_node_timeout_ms(size_t nodes)
{
	if (nodes <= NODE_TIMEOUT_NODES)
		return NODE_TIMEOUT_MS;
	return NODE_TIMEOUT_MS + (long)(nodes - NODE_TIMEOUT_NODES) * NODE_TIMEOUT_PER_NODE_MS;
}

long hf_sandbox_fds_needed(size_t nodes)
{
	/* A node: a bus link to and from each other node, a few clients, and
	 * the 32 descriptors Redis keeps for itself. This process: a
	 * connection per node and its own files. Both within the larger. */
	return 2 * (long)nodes + 128;
}

/* The deadlines of one command to every node, and the pause between two
 * looks: a few milliseconds more per node, as a big sandbox keeps the
 * machine busy with gossip, and fewer looks that cost more each. */
static long cmd_timeout_ms(const struct sandbox *sb)
{
	return CMD_TIMEOUT_MS + PER_NODE_MS * (long)sb->n;
}

static long probe_timeout_ms(const struct sandbox *sb)
{
	return PROBE_TIMEOUT_MS + PER_NODE_MS * (long)sb->n;
}

static long poll_ms(const struct sandbox *sb)
{
	long ms = (long)sb->n;

	return ms < POLL_MS ? POLL_MS : ms > POLL_MAX_MS ? POLL_MAX_MS : ms;
}

/* Tell the caller how far 'up' got: 'done' of 'total' nodes in 'phase'. */
static void report(const struct sandbox *sb, enum hf_sandbox_phase phase, size_t done,
		   size_t total, size_t synced, size_t replicas)
{
	struct hf_sandbox_progress p = {
		.phase = phase, .done = done, .total = total, .synced = synced,
		.replicas = replicas, .elapsed_ms = hf_mono_ms() - sb->t0,
		.timeout_ms = sb->timeout_ms,
	};

	if (sb->progress)
		sb->progress(&p, sb->progress_ud);
}

static void sandbox_release(struct sandbox *sb)
{
	size_t i;

	for (i = 0; i < sb->n; i++) {
		free(sb->nodes[i].id);
		free(sb->nodes[i].dir);
	}
	free(sb->nodes);
	hf_cluster_free(sb->fan);
	free(sb->dir);
	free(sb->password);
	free(sb->server);
	memset(sb, 0, sizeof(*sb));
}

/* ---- files --------------------------------------------------------- */

/* Write 'data' to 'path' through a temporary file and rename(), so a
 * reader never sees half a file. */
static int write_file(const char *path, const char *data, mode_t mode, struct hf_err *err)
{
	char *tmp = hf_xasprintf("%s.tmp", path);
	size_t len = strlen(data);
	int fd, rc = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = hf_err_set(err, HF_ERR, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, data, len) != (ssize_t)len) {
		rc = hf_err_set(err, HF_ERR, "cannot write '%s': %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path)) {
		rc = hf_err_set(err, HF_ERR, "cannot rename '%s': %s", tmp, strerror(errno));
		unlink(tmp);
	}
out:
	free(tmp);
	return rc;
}

/* The whole of a small file, NUL-terminated; NULL when it cannot be read. */
static char *slurp(const char *path)
{
	struct hf_buf b = {0};
	char chunk[4096];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		hf_buf_append(&b, chunk, (size_t)got);
	close(fd);
	if (!b.s)
		hf_buf_append(&b, "", 0);
	return hf_buf_detach(&b);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) && errno != ENOENT ? -1 : 0;
}

/* Remove a node directory, but only one that we made (it holds MARKER). */
static void remove_node_dir(const char *dir)
{
	char *marker = hf_xasprintf("%s/" MARKER, dir);

	if (!access(marker, F_OK))
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(marker);
}

/* The last non-empty line of 'path', or "" (static buffer). */
static const char *last_line(const char *path)
{
	static char line[512];
	char *s = slurp(path);
	size_t end;
	size_t start;

	line[0] = '\0';
	if (!s)
		return line;
	end = strlen(s);
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	snprintf(line, sizeof(line), "%.*s", (int)(end - start), s + start);
	free(s);
	return line;
}

/* ---- processes ----------------------------------------------------- */

static int read_pidfile(const struct node *nd)
{
	char *path = hf_xasprintf("%s/redis.pid", nd->dir);
	char *s = slurp(path);
	long pid = 0;

	if (s)
		pid = strtol(s, NULL, 10);
	free(s);
	free(path);
	return pid > 0 && pid <= INT_MAX ? (int)pid : 0;
}

/* Whether 'cmd' mentions 'port' as ":PORT" or "/PORT/" (the process title
 * "redis-server 127.0.0.1:PORT" or, before redis sets it, the path of the
 * node's redis.conf). */
static int mentions_port(const char *cmd, int port)
{
	char colon[16], slash[16];
	const char *p;

	snprintf(colon, sizeof(colon), ":%d", port);
	snprintf(slash, sizeof(slash), "/%d/", port);
	if (strstr(cmd, slash))
		return 1;
	for (p = strstr(cmd, colon); p; p = strstr(p + 1, colon))
		if (p[strlen(colon)] < '0' || p[strlen(colon)] > '9')
			return 1;
	return 0;
}

/* Whether 'pid' is a live (not zombie) redis-server of this sandbox serving
 * 'port'. This is what keeps us from ever signalling a reused pid. Zombies
 * count as gone: where init does not reap orphans they linger. */
static int pid_is_ours(const struct sandbox *sb, int pid, int port)
{
	char cmd[8192];
	const char *base;

	if (!hf_proc_alive(pid) || hf_proc_cmdline(pid, cmd, sizeof(cmd)) <= 0)
		return 0;
	base = sb->server ? strrchr(sb->server, '/') : NULL;
	base = base ? base + 1 : (sb->server ? sb->server : "redis-server");
	return (strstr(cmd, base) || strstr(cmd, "redis-server")) && mentions_port(cmd, port);
}

/* The pid to use for node 'nd': its pidfile's if that is ours, else the
 * recorded one if that is ours, else 0. */
static int live_pid(const struct sandbox *sb, const struct node *nd)
{
	int pid = read_pidfile(nd);

	if (pid_is_ours(sb, pid, nd->port))
		return pid;
	if (nd->pid && nd->pid != pid && pid_is_ours(sb, nd->pid, nd->port))
		return nd->pid;
	return 0;
}

/* 'path' made absolute without resolving symlinks: redis-server and
 * redis-check-rdb are one binary that looks at the name it was run by. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return hf_xstrdup(path);
	return hf_xasprintf("%s/%s", cwd, path);
}

static int runnable(const char *path)
{
	struct stat st;

	errno = 0;
	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/* Search $PATH for 'name' unless it holds a slash. Caller frees. */
static char *resolve_server(const char *name, struct hf_err *err)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	if (strchr(name, '/')) {
		if (!runnable(name)) {
			hf_err_set(err, HF_EINVAL, "cannot run redis-server '%s': %s", name,
				   errno ? strerror(errno) : "not an executable file");
			return NULL;
		}
		return absolute(name);
	}
	copy = hf_xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand = hf_xasprintf("%s/%s", *dir ? dir : ".", name);

		if (runnable(cand))
			found = absolute(cand);
		free(cand);
	}
	free(copy);
	if (!found)
		hf_err_set(err, HF_EINVAL,
			   "cannot find '%s' in PATH (install redis-server, or use --redis-server or HOTFIX_REDIS_SERVER)",
			   name);
	return found;
}

int hf_sandbox_server_version(const char *server, char *out, size_t outlen)
{
	struct hf_err e;
	char *path, buf[512];
	const char *v;
	size_t n;
	int rc;

	if (!server || !*server)
		server = getenv("HOTFIX_REDIS_SERVER");
	if (!(path = resolve_server(server && *server ? server : "redis-server", &e)))
		return -1;
	{
		char *const argv[] = { path, (char *)"--version", NULL };

		rc = hf_proc_run(argv, 5000, buf, sizeof(buf));
	}
	free(path);
	if (rc || !(v = strstr(buf, " v=")))
		return -1;
	v += 3;
	n = strcspn(v, " \n");
	if (!n || n >= outlen)
		return -1;
	memcpy(out, v, n);
	out[n] = 0;
	return 0;
}

/* ---- ports --------------------------------------------------------- */

static int bindable(int port, int reuse)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (reuse)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	ok = !bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return ok;
}

/* Whether redis-server could listen on 127.0.0.1:'port'. A plain bind
 * (SO_REUSEADDR off) catches every listener and every bound socket. When
 * only that fails, a second bind with SO_REUSEADDR tells apart sockets in
 * TIME_WAIT left by a sandbox that just went down: redis sets SO_REUSEADDR
 * itself, so they do not stop it, and must not stop 'up' either. */
static int port_free(int port)
{
	return bindable(port, 0) || (errno == EADDRINUSE && bindable(port, 1));
}

/* ---- talking to nodes ---------------------------------------------- */

/* The nodes as the engine's fan-out sees them, with connections that stay
 * open while we work. A connection per command would leave thousands of
 * sockets in TIME_WAIT while a big sandbox forms, some of them on the very
 * ports (bus ports are in the ephemeral range) the next sandbox wants. */
static struct hf_cluster *fan_of(struct sandbox *sb)
{
	struct hf_cluster *c;
	size_t i;

	if (sb->fan)
		return sb->fan;
	c = hf_xcalloc(1, sizeof(*c));
	c->uri.host = hf_xstrdup(sb->nodes[0].host);
	c->uri.port = sb->base_port;
	c->uri.password = sb->password ? hf_xstrdup(sb->password) : NULL;
	c->uri.tls = sb->tls;
	if (sb->tls) {
		c->uri.tlsopt.cacert = hf_xasprintf("%s/" TLS_DIR "/ca.crt", sb->dir);
		c->uri.tlsopt.cert = hf_xasprintf("%s/" TLS_DIR "/client.crt", sb->dir);
		c->uri.tlsopt.key = hf_xasprintf("%s/" TLS_DIR "/client.key", sb->dir);
	}
	c->cluster_mode = sb->cluster;
	c->cluster_state[0] = '\0';
	c->timeout_ms = cmd_timeout_ms(sb);
	c->nodes = hf_xcalloc(sb->n, sizeof(*c->nodes));
	c->nnodes = sb->n;
	c->nshards = sb->shards;
	for (i = 0; i < sb->n; i++) {
		struct hf_node *hn = &c->nodes[i];

		hn->id = hf_xasprintf("%s:%d", sb->nodes[i].host, sb->nodes[i].port);
		hn->host = hf_xstrdup(sb->nodes[i].host);
		hn->port = sb->nodes[i].port;
		hn->role = sb->nodes[i].replica ? HF_ROLE_REPLICA : HF_ROLE_PRIMARY;
		hn->shard = sb->nodes[i].shard;
		hn->flags = hf_xstrdup("");
	}
	sb->fan = c;
	return c;
}

/* Start a call to node 'i' in 'calls' (room for every node). */
static struct hf_call *add_call(struct sandbox *sb, struct hf_call *calls, size_t *n, size_t i)
{
	struct hf_call *call = &calls[(*n)++];

	memset(call, 0, sizeof(*call));
	call->node = &fan_of(sb)->nodes[i];
	return call;
}

static size_t node_of(const struct sandbox *sb, const struct hf_call *call)
{
	return (size_t)(call->node - sb->fan->nodes);
}

/* The reply to command 'k' of 'call' unless the node failed to answer or
 * answered with an error. */
static const struct hf_reply *reply_of(const struct hf_call *call, size_t k)
{
	const struct hf_reply *r = k < call->ncmds && !call->status ? call->replies[k] : NULL;

	return r && r->type != HF_REPLY_ERROR ? r : NULL;
}

static const char *text_of(const struct hf_call *call, size_t k)
{
	const struct hf_reply *r = reply_of(call, k);

	return r && r->type == HF_REPLY_STRING && r->str ? r->str : NULL;
}

/* 0 when every command of 'call' succeeded, else a negative code with
 * 'err' saying which node and command failed, and why. */
static int call_failed(const struct hf_call *call, struct hf_err *err)
{
	size_t k;

	if (call->status)
		return hf_err_set(err, HF_ERR, "%s", call->error);
	for (k = 0; k < call->ncmds; k++) {
		const struct hf_argv *a = &call->cmds[k];
		const struct hf_reply *r = call->replies[k];

		if (!r || r->type == HF_REPLY_ERROR)
			return hf_err_set(err, HF_ERR, "%s:%d: %s %s: %s", call->node->host, call->node->port,
					  a->argv[0], a->argc > 1 ? a->argv[1] : "",
					  r ? r->str : "no reply");
	}
	return 0;
}

static long long field_ll(const char *info, const char *field)
{
	char v[64];

	if (!info || hf_info_field(info, field, v, sizeof(v)))
		return -1;
	return strtoll(v, NULL, 10);
}

/* ---- sandbox.json -------------------------------------------------- */

static char *state_path(const char *dir)
{
	return hf_xasprintf("%s/" STATE_FILE, dir);
}

static int save_state(const struct sandbox *sb, struct hf_err *err)
{
	json_t *root = json_object(), *nodes = json_array();
	char *path = state_path(sb->dir);
	char *text;
	size_t i;
	int rc;

	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "mode", json_string(sb->cluster ? "cluster" : "standalone"));
	json_object_set_new(root, "shards", json_integer(sb->shards));
	json_object_set_new(root, "replicas", json_integer(sb->replicas));
	json_object_set_new(root, "base_port", json_integer(sb->base_port));
	/* Never the password itself: it lives only in the nodes' redis.conf. */
	json_object_set_new(root, "password", json_boolean(sb->has_password));
	json_object_set_new(root, "tls", json_boolean(sb->tls));
	if (sb->net)
		json_object_set_new(root, "netns", json_integer(sb->net));
	json_object_set_new(root, "redis_server", json_string(sb->server));
	for (i = 0; i < sb->n; i++) {
		const struct node *nd = &sb->nodes[i];
		json_t *o = json_object();

		json_object_set_new(o, "port", json_integer(nd->port));
		json_object_set_new(o, "pid", json_integer(nd->pid));
		json_object_set_new(o, "shard", json_integer(nd->shard));
		json_object_set_new(o, "role", json_string(nd->replica ? "replica" : "primary"));
		json_array_append_new(nodes, o);
	}
	json_object_set_new(root, "nodes", nodes);
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	rc = write_file(path, text, 0600, err);
	free(text);
	free(path);
	return rc;
}

/* Read the password of a sandbox back from its first node's redis.conf,
 * where redis itself reads it (CONFIG REWRITE may have quoted it). */
static char *read_password(const struct sandbox *sb)
{
	char *path = hf_xasprintf("%s/redis.conf", sb->nodes[0].dir);
	char *conf = slurp(path);
	char *line, *save = NULL, *pw = NULL;

	free(path);
	if (!conf)
		return NULL;
	for (line = strtok_r(conf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len;

		if (strncmp(line, "requirepass ", 12))
			continue;
		line += 12;
		len = strcspn(line, "\r");
		if (len >= 2 && line[0] == '"' && line[len - 1] == '"') {
			line++;
			len -= 2;
		}
		free(pw);
		pw = hf_xstrndup(line, len);
	}
	free(conf);
	return pw;
}

static void layout(struct sandbox *sb);

/* Load the sandbox recorded in 'dir'. Returns 0, 1 when there is none, or
 * a negative code with 'err' filled. */
static int load_state(const char *dir, struct sandbox *sb, struct hf_err *err)
{
	char *path = dir ? state_path(dir) : NULL;
	json_error_t jerr;
	json_t *root = NULL, *nodes;
	const char *mode = NULL, *server = NULL;
	size_t i;
	int rc = 0, pw = 0, tls = 0;

	memset(sb, 0, sizeof(*sb));
	if (!dir) {
		free(path);
		return 1;
	}
	if (access(path, F_OK)) {
		rc = errno == ENOENT || errno == ENOTDIR ? 1 :
			hf_err_set(err, HF_ERR, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		rc = hf_err_set(err, HF_ERR, "cannot read '%s': line %d: %s", path, jerr.line, jerr.text);
		goto out;
	}
	if (json_unpack_ex(root, &jerr, 0, "{s:s, s:i, s:i, s:i, s:b, s?b, s?i, s:s, s:o}",
			   "mode", &mode, "shards", &sb->shards, "replicas", &sb->replicas,
			   "base_port", &sb->base_port, "password", &pw, "tls", &tls,
			   "netns", &sb->net, "redis_server", &server, "nodes", &nodes) ||
	    !json_is_array(nodes)) {
		rc = hf_err_set(err, HF_ERR, "cannot read '%s': %s", path, jerr.text);
		goto out;
	}
	sb->dir = hf_xstrdup(dir);
	sb->cluster = !strcmp(mode, "cluster");
	sb->has_password = pw;
	sb->tls = tls;
	sb->server = hf_xstrdup(server);
	if (sb->shards < 1 || sb->replicas < 0 ||
	    (size_t)sb->shards * (size_t)(sb->replicas + 1) != json_array_size(nodes)) {
		rc = hf_err_set(err, HF_ERR, "cannot read '%s': nodes do not match shards and replicas", path);
		goto out;
	}
	layout(sb);
	for (i = 0; i < sb->n; i++) {
		json_t *o = json_array_get(nodes, i);
		int port = 0, pid = 0;

		if (json_unpack(o, "{s:i, s:i}", "port", &port, "pid", &pid) || port != sb->nodes[i].port) {
			rc = hf_err_set(err, HF_ERR, "cannot read '%s': bad node %zu", path, i);
			goto out;
		}
		sb->nodes[i].pid = pid;
	}
	if (sb->has_password)
		sb->password = read_password(sb);
out:
	if (rc)
		sandbox_release(sb);
	json_decref(root);
	free(path);
	return rc;
}

/* ---- layout and configuration -------------------------------------- */

/* Each node's address: HOST, or its namespace's with --netns. */
static void set_hosts(struct sandbox *sb)
{
	size_t i;

	for (i = 0; i < sb->n; i++) {
		if (sb->net)
			hf_netns_host(sb->net, i, sb->nodes[i].host, sizeof(sb->nodes[i].host));
		else
			snprintf(sb->nodes[i].host, sizeof(sb->nodes[i].host), "%s", HOST);
	}
}

/* Place the nodes: in cluster mode the primaries take the first ports and
 * the replicas of shard i follow them in shard order; standalone the
 * primary comes first. */
static void layout(struct sandbox *sb)
{
	size_t i, r;

	sb->n = (size_t)sb->shards * (size_t)(sb->replicas + 1);
	sb->nodes = hf_xcalloc(sb->n, sizeof(*sb->nodes));
	for (i = 0; i < (size_t)sb->shards; i++) {
		sb->nodes[i].shard = (int)i;
		for (r = 0; r < (size_t)sb->replicas; r++) {
			struct node *nd = &sb->nodes[sb->shards + i * sb->replicas + r];

			nd->shard = (int)i;
			nd->replica = 1;
			nd->primary = i;
		}
	}
	for (i = 0; i < sb->n; i++) {
		sb->nodes[i].port = sb->base_port + (int)i;
		sb->nodes[i].dir = hf_xasprintf("%s/%d", sb->dir, sb->nodes[i].port);
	}
	set_hosts(sb);
}

/* A TLS node listens on its port with TLS only, and speaks TLS on the
 * cluster bus and to its primary, with the sandbox's server certificate
 * both ways; clients must show a certificate of the sandbox's CA. */
static void tls_conf(const struct sandbox *sb, const struct node *nd, struct hf_buf *b)
{
	hf_buf_printf(b, "port 0\ntls-port %d\n", nd->port);
	hf_buf_printf(b, "tls-cert-file %s/" TLS_DIR "/server.crt\n", sb->dir);
	hf_buf_printf(b, "tls-key-file %s/" TLS_DIR "/server.key\n", sb->dir);
	hf_buf_printf(b, "tls-ca-cert-file %s/" TLS_DIR "/ca.crt\n", sb->dir);
	hf_buf_printf(b, "tls-auth-clients yes\ntls-replication yes\n");
	if (sb->cluster)
		hf_buf_printf(b, "tls-cluster yes\n");
}

static int write_conf(const struct sandbox *sb, const struct node *nd, struct hf_err *err)
{
	struct hf_buf b = {0};
	char *path = hf_xasprintf("%s/redis.conf", nd->dir);
	char *marker = hf_xasprintf("%s/" MARKER, nd->dir);
	int rc;

	hf_buf_printf(&b, "# Written by 'hotfix sandbox up'. hotfix may CONFIG REWRITE it.\n");
	if (sb->tls)
		tls_conf(sb, nd, &b);
	else
		hf_buf_printf(&b, "port %d\n", nd->port);
	hf_buf_printf(&b, "bind %s%s\nprotected-mode no\n", nd->host, sb->ipv6 ? " -::1" : "");
	hf_buf_printf(&b, "daemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\ndir %s\n",
		      nd->dir, nd->dir, nd->dir);
	/* DEBUG for drills (a regression's DEBUG SLEEP): "local" means from
	 * 127.0.0.1, which hotfix is not to a node in a namespace. */
	hf_buf_printf(&b, "save \"\"\nappendonly no\nenable-debug-command %s\n",
		      sb->net ? "yes" : "local");
	/* Replicas would otherwise wait 5 s for more replicas before a
	 * diskless full sync, which dominates the start of a small sandbox. */
	hf_buf_printf(&b, "repl-diskless-sync-delay 0\n");
	if (sb->cluster)
		hf_buf_printf(&b, "cluster-enabled yes\ncluster-config-file nodes.conf\n"
			      "cluster-node-timeout %ld\n", hf_sandbox_node_timeout_ms(sb->n));
	if (sb->password)
		hf_buf_printf(&b, "requirepass \"%s\"\nmasterauth \"%s\"\n", sb->password, sb->password);
	if (!sb->cluster && nd->replica)
		hf_buf_printf(&b, "replicaof %s %d\n", sb->nodes[nd->primary].host,
			      sb->nodes[nd->primary].port);
	rc = write_file(path, b.s, 0600, err);
	if (!rc)
		rc = write_file(marker, "made by hotfix sandbox up\n", 0600, err);
	hf_buf_release(&b);
	free(path);
	free(marker);
	return rc;
}

/* The seed URI of node 'nd', with the password percent-encoded. Caller
 * frees. */
static char *seed_of(const struct sandbox *sb, const struct node *nd)
{
	struct hf_buf b = {0};
	const char *p;

	hf_buf_puts(&b, sb->tls ? "rediss://" : "redis://");
	if (sb->password) {
		hf_buf_puts(&b, ":");
		for (p = sb->password; *p; p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
				hf_buf_append(&b, p, 1);
			else
				hf_buf_printf(&b, "%%%02X", (unsigned char)*p);
		}
		hf_buf_puts(&b, "@");
	}
	hf_buf_printf(&b, "%s:%d", nd->host, nd->port);
	return hf_buf_detach(&b);
}

/* ---- starting ------------------------------------------------------ */

static int spawn(const struct sandbox *sb, struct node *nd, struct hf_err *err)
{
	char *conf = hf_xasprintf("%s/redis.conf", nd->dir);
	char *log = hf_xasprintf("%s/start.log", nd->dir);
	char *argv[] = { sb->server, conf, NULL };
	char **in_ns = sb->net ? hf_netns_argv(sb->net, (size_t)(nd - sb->nodes), argv) : NULL;
	char why[512];
	int pid, rc = 0;

	/* Only the redis.conf path is passed; stdout and stderr go to
	 * start.log, where redis reports a bad config before it daemonizes.
	 * With --netns 'ip netns exec' puts it in its namespace (and execs
	 * it: the pid is redis-server's). */
	pid = hf_proc_start(in_ns ? in_ns : argv, log, why, sizeof(why));
	hf_netns_argv_free(in_ns);
	if (pid < 0) {
		rc = hf_err_set(err, HF_ERR, "node %d: %s", nd->port, why);
	} else {
		nd->starter = pid;
		nd->spawned = 1;
	}
	free(conf);
	free(log);
	return rc;
}

/* Why node 'nd' did not start, from its logs. */
static int start_failed(const struct node *nd, const char *what, struct hf_err *err)
{
	char *start = hf_xasprintf("%s/start.log", nd->dir);
	char *log = hf_xasprintf("%s/redis.log", nd->dir);
	const char *from = start;
	char line[512];
	int rc;

	snprintf(line, sizeof(line), "%s", last_line(start));
	if (!*line) {
		snprintf(line, sizeof(line), "%s", last_line(log));
		from = log;
	}
	rc = hf_err_set(err, HF_ERR, "node %d %s%s%s (see '%s')", nd->port, what,
			*line ? ": " : "", line, from);
	free(start);
	free(log);
	return rc;
}

/* Whether redis logged that it gave up before writing its pidfile (it
 * could not listen, say), so we need not wait for the deadline. */
static int log_says_aborted(const struct node *nd)
{
	char *path = hf_xasprintf("%s/redis.log", nd->dir);
	char *log = slurp(path);
	int aborted = log && (strstr(log, "aborting") || strstr(log, "FATAL"));

	free(log);
	free(path);
	return aborted;
}

/* One step of bringing node 'nd' up, short of talking to it: reap its
 * daemonizing parent, read its pidfile. Returns 1 once it has a live pid,
 * 0 when not yet, or a negative code when it failed for good. */
static int poll_process(const struct sandbox *sb, struct node *nd, struct hf_err *err)
{
	char how[64];

	if (nd->starter && hf_proc_ended(nd->starter, how, sizeof(how))) {
		nd->starter = 0;
		if (*how) {
			char what[96];

			snprintf(what, sizeof(what), "did not start (%s)", how);
			nd->failed = 1;
			return start_failed(nd, what, err);
		}
	}
	if (!nd->pid) {
		nd->pid = read_pidfile(nd);
		if (!nd->pid && log_says_aborted(nd)) {
			nd->failed = 1;
			return start_failed(nd, "did not start", err);
		}
		if (!nd->pid)
			return 0;
	}
	if (!pid_is_ours(sb, nd->pid, nd->port)) {
		nd->failed = 1;
		return start_failed(nd, "exited while starting", err);
	}
	return 1;
}

/* Wait until every node has written its pidfile (redis does that once it
 * listens) and answers PING. */
static int wait_started(struct sandbox *sb, long long deadline, struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(sb->n, sizeof(*calls));
	size_t i, k, n, pending;
	int rc = 0;

	for (;;) {
		pending = n = 0;
		for (i = 0; i < sb->n; i++) {
			if (sb->nodes[i].ready)
				continue;
			pending++;
			if ((rc = poll_process(sb, &sb->nodes[i], err)) < 0) {
				hf_calls_release(calls, n);
				goto out;
			}
			if (rc)
				hf_call_push(add_call(sb, calls, &n, i), "PING", NULL);
		}
		rc = 0;
		if (n) {
			hf_fanout(fan_of(sb), calls, n, probe_timeout_ms(sb));
			for (k = 0; k < n; k++) {
				if (!reply_of(&calls[k], 0))
					continue;
				sb->nodes[node_of(sb, &calls[k])].ready = 1;
				pending--;
			}
			hf_calls_release(calls, n);
		}
		report(sb, HF_SANDBOX_PHASE_START, sb->n - pending, sb->n, 0, 0);
		if (!pending)
			break;
		if (hf_mono_ms() > deadline) {
			for (i = 0; i < sb->n; i++)
				if (!sb->nodes[i].ready)
					break;
			rc = start_failed(&sb->nodes[i], "did not answer PING in time", err);
			break;
		}
		hf_sleep_ms(poll_ms(sb));
	}
out:
	free(calls);
	return rc;
}

/* ---- forming the cluster ------------------------------------------- */

/* CLUSTER ADDSLOTSRANGE of shard 'shard': its share of an even split, or
 * the ranges hf_sandbox_opts gave. A shard given no range gets none. */
static void add_slots(const struct sandbox *sb, struct hf_call *call, int shard)
{
	struct hf_argv *a = hf_call_cmd(call);
	size_t j;

	if (sb->ranges && !sb->nranges[shard]) {
		hf_argv_push(a, "PING");      /* nothing to add: a harmless command */
		return;
	}
	hf_argv_push(a, "CLUSTER");
	hf_argv_push(a, "ADDSLOTSRANGE");
	if (!sb->ranges) {
		hf_argv_pushf(a, "%ld", (long)shard * SLOTS / sb->shards);
		hf_argv_pushf(a, "%ld", (long)(shard + 1) * SLOTS / sb->shards - 1);
		return;
	}
	for (j = 0; j < sb->nranges[shard]; j++) {
		hf_argv_pushf(a, "%d", sb->ranges[shard][2 * j]);
		hf_argv_pushf(a, "%d", sb->ranges[shard][2 * j + 1]);
	}
}

/* Slots, config epochs and node ids, on every node before any meets. */
static int prepare_nodes(struct sandbox *sb, struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(sb->n, sizeof(*calls));
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < sb->n; i++) {
		struct hf_call *call = add_call(sb, calls, &n, i);

		if (!sb->nodes[i].replica) {
			char epoch[24];

			add_slots(sb, call, sb->nodes[i].shard);
			snprintf(epoch, sizeof(epoch), "%d", (int)i + 1);
			/* Distinct epochs up front: no epoch collisions to settle. */
			hf_call_push(call, "CLUSTER", "SET-CONFIG-EPOCH", epoch, NULL);
		}
		hf_call_push(call, "CLUSTER", "MYID", NULL);
	}
	hf_fanout(fan_of(sb), calls, n, cmd_timeout_ms(sb));
	for (i = 0; i < n && !rc; i++) {
		const char *id = text_of(&calls[i], calls[i].ncmds - 1);

		if ((rc = call_failed(&calls[i], err)))
			break;
		if (!id || !*id)
			rc = hf_err_set(err, HF_ERR, "node %d: CLUSTER MYID gave no id", sb->nodes[i].port);
		else
			sb->nodes[i].id = hf_xstrdup(id);
	}
	hf_calls_release(calls, n);
	free(calls);
	return rc;
}

/* Every node meets the first; gossip does the rest. */
static int meet_all(struct sandbox *sb, struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(sb->n, sizeof(*calls));
	char port[16];
	size_t i, n = 0;
	int rc = 0;

	snprintf(port, sizeof(port), "%d", sb->nodes[0].port);
	for (i = 1; i < sb->n; i++)
		hf_call_push(add_call(sb, calls, &n, i), "CLUSTER", "MEET", sb->nodes[0].host, port,
			     NULL);
	hf_fanout(fan_of(sb), calls, n, cmd_timeout_ms(sb));
	for (i = 0; i < n && !rc; i++)
		rc = call_failed(&calls[i], err);
	hf_calls_release(calls, n);
	free(calls);
	return rc;
}

/* Whether node 'nd', from its CLUSTER NODES and CLUSTER INFO, sees the
 * cluster as it should be: every node known (no handshakes), connected,
 * none failing, the right number of primaries and replicas, and
 * cluster_state:ok. 'why' says what is missing. */
static int cluster_view_ok(const struct sandbox *sb, const struct node *nd, const char *nodes,
			   const char *info, char *why, size_t whylen)
{
	size_t known = 0, primaries = 0, replicas = 0;
	char state[16] = "";
	char *text, *line, *save = NULL;
	int ok = 1;

	if (!nodes || !info) {
		snprintf(why, whylen, "node %d does not answer CLUSTER NODES/INFO", nd->port);
		return 0;
	}
	text = hf_xstrdup(nodes);
	for (line = strtok_r(text, "\n", &save); line && ok; line = strtok_r(NULL, "\n", &save)) {
		char flags[128] = "", primary[64] = "", link[32] = "";
		char *f, *fsave = NULL;

		if (sscanf(line, "%*s %*s %127s %63s %*s %*s %*s %31s", flags, primary, link) != 3)
			continue;
		for (f = strtok_r(flags, ",", &fsave); f; f = strtok_r(NULL, ",", &fsave)) {
			if (!strcmp(f, "handshake") || !strcmp(f, "noaddr") ||
			    !strcmp(f, "fail") || !strcmp(f, "fail?"))
				ok = 0;
			else if (!strcmp(f, "master"))
				primaries++;
			else if (!strcmp(f, "slave"))
				replicas++;
			/* A replica whose primary it had not heard of when it
			 * learned the role: hotfix's topology consensus would
			 * wait for the next ping that names it (up to half the
			 * node timeout). */
			if (!strcmp(f, "slave") && !strcmp(primary, "-"))
				ok = 0;
		}
		if (strcmp(link, "connected"))
			ok = 0;
		known++;
	}
	free(text);
	if (!ok || known != sb->n || primaries != (size_t)sb->shards ||
	    replicas != (size_t)sb->shards * sb->replicas) {
		snprintf(why, whylen, "node %d sees %zu of %zu nodes (%zu primaries, %zu replicas)%s",
			 nd->port, known, sb->n, primaries, replicas, ok ? "" : ", some failing, unlinked or without their primary");
		return 0;
	}
	hf_info_field(info, "cluster_state", state, sizeof(state));
	if (strcmp(state, "ok")) {
		snprintf(why, whylen, "node %d reports cluster_state:%s", nd->port, *state ? state : "?");
		return 0;
	}
	return 1;
}

/* Whether replica 'r' is linked to its primary, caught up with its
 * offset, and seen online by the primary too (it waits for their first
 * ACK after a sync). 'repl' holds every node's INFO replication. */
static int replica_ok(const struct sandbox *sb, size_t r, const char *const *repl, char *why,
		      size_t whylen)
{
	const struct node *nd = &sb->nodes[r], *pr = &sb->nodes[nd->primary];
	const char *prepl = repl[nd->primary];
	long long want = field_ll(prepl, "master_repl_offset");
	char link[16] = "", online[48];

	if (!prepl) {
		snprintf(why, whylen, "primary %d does not answer INFO", pr->port);
		return 0;
	}
	snprintf(online, sizeof(online), "port=%d,state=online,", nd->port);
	if (repl[r])
		hf_info_field(repl[r], "master_link_status", link, sizeof(link));
	if (strcmp(link, "up") || field_ll(repl[r], "master_port") != pr->port ||
	    !strstr(prepl, online)) {
		snprintf(why, whylen, "replica %d is not linked to %d yet", nd->port, pr->port);
		return 0;
	}
	if (want < 0 || field_ll(repl[r], "slave_repl_offset") != want) {
		snprintf(why, whylen, "replica %d is at offset %lld, its primary at %lld",
			 nd->port, field_ll(repl[r], "slave_repl_offset"), want);
		return 0;
	}
	return 1;
}

/* The primaries that serve slots: what CLUSTER INFO's cluster_size says
 * once every node knows every other. */
static size_t shards_with_slots(const struct sandbox *sb)
{
	size_t i, n = 0;

	for (i = 0; i < (size_t)sb->shards; i++)
		n += !sb->ranges || sb->nranges[i];
	return n;
}

/* Whether node 'nd''s CLUSTER INFO says it knows every node and its
 * cluster is ok: a cheap first look. CLUSTER NODES, which tells the roles
 * and links, is n lines from each of n nodes, too much to ask a big
 * sandbox's nodes several times a second while they gossip. */
static int cluster_info_ok(const struct sandbox *sb, const struct node *nd, const char *info,
			   char *why, size_t whylen)
{
	char state[16] = "";

	if (!info) {
		snprintf(why, whylen, "node %d does not answer CLUSTER INFO", nd->port);
		return 0;
	}
	hf_info_field(info, "cluster_state", state, sizeof(state));
	if (field_ll(info, "cluster_known_nodes") != (long long)sb->n ||
	    field_ll(info, "cluster_size") != (long long)shards_with_slots(sb)) {
		snprintf(why, whylen, "node %d knows %lld of %zu nodes, %lld shards with slots",
			 nd->port, field_ll(info, "cluster_known_nodes"), sb->n,
			 field_ll(info, "cluster_size"));
		return 0;
	}
	if (strcmp(state, "ok")) {
		snprintf(why, whylen, "node %d reports cluster_state:%s", nd->port, *state ? state : "?");
		return 0;
	}
	return 1;
}

static int give_up(const struct sandbox *sb, const char *why, struct hf_err *err)
{
	char d[32];

	hf_fmt_duration(sb->timeout_ms, d, sizeof(d));
	return hf_err_set(err, HF_ERR, "sandbox of %zu nodes not ready after %s: %s", sb->n, d, why);
}

/* Cluster mode: attach every replica to its primary, as soon as it has
 * heard of it (CLUSTER REPLICATE is refused until then). */
static int attach_replicas(struct sandbox *sb, long long deadline, struct hf_err *err)
{
	struct hf_call *calls = hf_xcalloc(sb->n, sizeof(*calls));
	size_t i, k, n, attached = 0, replicas = 0;
	char why[256] = "";
	int rc = 0;

	for (i = 0; i < sb->n; i++) {
		sb->nodes[i].ready = !sb->nodes[i].replica;
		replicas += sb->nodes[i].replica;
	}
	while (attached < replicas) {
		n = 0;
		for (i = 0; i < sb->n; i++)
			if (!sb->nodes[i].ready)
				hf_call_push(add_call(sb, calls, &n, i), "CLUSTER", "REPLICATE",
					     sb->nodes[sb->nodes[i].primary].id, NULL);
		hf_fanout(fan_of(sb), calls, n, cmd_timeout_ms(sb));
		for (k = 0; k < n; k++) {
			size_t at = node_of(sb, &calls[k]);

			if (reply_of(&calls[k], 0)) {
				sb->nodes[at].ready = 1;
				attached++;
			} else {
				snprintf(why, sizeof(why), "replica %d does not know its primary yet",
					 sb->nodes[at].port);
			}
		}
		hf_calls_release(calls, n);
		report(sb, HF_SANDBOX_PHASE_ATTACH, attached, replicas, 0, replicas);
		if (attached == replicas)
			break;
		if (hf_mono_ms() > deadline) {
			rc = give_up(sb, why, err);
			break;
		}
		hf_sleep_ms(poll_ms(sb));
	}
	free(calls);
	return rc;
}

/* One look at every node: INFO replication, and in cluster mode CLUSTER
 * INFO, and CLUSTER NODES too when 'full'. Returns whether the sandbox is
 * ready as far as this look can tell; '*agree' counts the nodes whose
 * view is right, '*synced' the replicas in sync, 'why' the first thing
 * missing. */
static int look(struct sandbox *sb, int full, size_t *agree, size_t *synced, char *why,
		size_t whylen)
{
	struct hf_call *calls = hf_xcalloc(sb->n, sizeof(*calls));
	const char **repl = hf_xcalloc(sb->n, sizeof(*repl));
	char first[256] = "", *w;
	size_t i, n = 0;

	for (i = 0; i < sb->n; i++) {
		struct hf_call *call = add_call(sb, calls, &n, i);

		hf_call_push(call, "INFO", "replication", NULL);
		if (sb->cluster) {
			hf_call_push(call, "CLUSTER", "INFO", NULL);
			if (full)
				hf_call_push(call, "CLUSTER", "NODES", NULL);
		}
	}
	hf_fanout(fan_of(sb), calls, n, cmd_timeout_ms(sb));
	for (i = 0; i < sb->n; i++)
		repl[i] = text_of(&calls[i], 0);
	*agree = *synced = 0;
	for (i = 0; i < sb->n; i++) {
		w = *first ? why : first;
		if (!sb->cluster || (full ? cluster_view_ok(sb, &sb->nodes[i], text_of(&calls[i], 2),
							     text_of(&calls[i], 1), w, whylen) :
				     cluster_info_ok(sb, &sb->nodes[i], text_of(&calls[i], 1), w, whylen)))
			(*agree)++;
		w = *first ? why : first;
		if (sb->nodes[i].replica && replica_ok(sb, i, repl, w, whylen))
			(*synced)++;
	}
	hf_calls_release(calls, n);
	free(repl);
	free(calls);
	snprintf(why, whylen, "%s", first);
	return !*first;
}

/* Wait until every node's view and every replica are as they should be,
 * all seen in one round of questions that includes CLUSTER NODES. */
static int wait_agreed(struct sandbox *sb, long long deadline, struct hf_err *err)
{
	size_t replicas = sb->n - (size_t)sb->shards, agree, synced;
	char why[256] = "";
	int full = 0;

	for (;;) {
		int ok = look(sb, full, &agree, &synced, why, sizeof(why));

		report(sb, HF_SANDBOX_PHASE_AGREE, agree, sb->n, synced, replicas);
		if (ok && (full || !sb->cluster))
			return 0;
		/* The cheap look passed: the next one asks for everything. */
		full = ok;
		if (hf_mono_ms() > deadline)
			return give_up(sb, why, err);
		if (!full)
			hf_sleep_ms(poll_ms(sb));
	}
}

/* ---- stopping ------------------------------------------------------ */

/* After a failed start, wait (briefly) until every node that was spawned
 * has either written its pidfile or failed, so that none is still booting,
 * unseen, when we stop the others. */
static void settle(struct sandbox *sb)
{
	long long deadline = hf_mono_ms() + SETTLE_TIMEOUT_MS + PER_NODE_MS * (long)sb->n;
	size_t i, pending;

	do {
		pending = 0;
		for (i = 0; i < sb->n; i++) {
			struct node *nd = &sb->nodes[i];
			struct hf_err ignored;

			if (!nd->spawned || nd->failed || nd->pid)
				continue;
			if (poll_process(sb, nd, &ignored) == 0 && !nd->pid && !nd->failed)
				pending++;
		}
		if (pending)
			hf_sleep_ms(POLL_MS);
	} while (pending && hf_mono_ms() < deadline);
}

/* Stop every process of 'sb' that is still ours; see hf_sandbox_down().
 * Returns 0, or HF_ERR when a process survived SIGKILL. */
static int stop_nodes(struct sandbox *sb, struct hf_sandbox_down_result *res, struct hf_err *err)
{
	int *pids = hf_xcalloc(sb->n, sizeof(*pids));
	long long deadline = hf_mono_ms() + TERM_TIMEOUT_MS + PER_NODE_MS * (long)sb->n;
	size_t i, left = 0;
	int killing = 0, rc = 0;

	for (i = 0; i < sb->n; i++) {
		struct node *nd = &sb->nodes[i];

		if (nd->starter) {
			/* Our own child still daemonizing: it has nothing to keep. */
			hf_proc_kill(nd->starter);
			nd->starter = 0;
		}
		pids[i] = live_pid(sb, nd);
		if (!pids[i]) {
			res->gone++;
			continue;
		}
		/* SIGCONT first: a node stopped with SIGSTOP must go down too. */
		kill(pids[i], SIGCONT);
		kill(pids[i], SIGTERM);
		left++;
	}
	while (left) {
		for (i = 0; i < sb->n; i++) {
			if (!pids[i] || pid_is_ours(sb, pids[i], sb->nodes[i].port))
				continue;
			pids[i] = 0;
			left--;
			if (killing)
				res->killed++;
			else
				res->stopped++;
		}
		if (!left)
			break;
		if (hf_mono_ms() > deadline) {
			if (killing)
				break;
			for (i = 0; i < sb->n; i++)
				if (pids[i] && pid_is_ours(sb, pids[i], sb->nodes[i].port))
					kill(pids[i], SIGKILL);
			killing = 1;
			deadline = hf_mono_ms() + KILL_TIMEOUT_MS + PER_NODE_MS * (long)sb->n;
		}
		hf_sleep_ms(POLL_MS);
	}
	for (i = 0; i < sb->n; i++) {
		if (pids[i]) {
			rc = hf_err_set(err, HF_ERR, "node %d (pid %d) survived SIGKILL",
					sb->nodes[i].port, pids[i]);
			break;
		}
	}
	free(pids);
	return rc;
}

/* ---- the public functions ------------------------------------------ */

char *hf_sandbox_default_dir(const char *state_dir)
{
	return state_dir ? hf_xasprintf("%s/sandbox", state_dir) : NULL;
}

const char *hf_sandbox_state_name(enum hf_sandbox_state s)
{
	switch (s) {
	case HF_SANDBOX_NODE_UP:
		return "up";
	case HF_SANDBOX_NODE_HUNG:
		return "not answering";
	default:
		return "down";
	}
}

static int check_opts(const struct hf_sandbox_opts *o, struct sandbox *sb, struct hf_err *err)
{
	const char *p;
	long last;

	if (!o->dir || !*o->dir)
		return hf_err_set(err, HF_EINVAL, "sandbox: no directory given");
	sb->cluster = !o->standalone;
	sb->shards = o->shards > 0 ? o->shards : (o->standalone ? 1 : HF_SANDBOX_DEFAULT_SHARDS);
	sb->replicas = o->replicas >= 0 ? o->replicas : HF_SANDBOX_DEFAULT_REPLICAS;
	sb->base_port = o->base_port > 0 ? o->base_port : HF_SANDBOX_DEFAULT_BASE_PORT;
	sb->tls = o->tls;
	sb->ipv6 = o->ipv6;
	if (o->netns && (o->tls || o->ipv6))
		return hf_err_set(err, HF_EINVAL, "sandbox: --netns goes with neither --tls nor --ipv6 "
				  "(the certificates name 127.0.0.1 and ::1)");
	if (o->netns && (long)sb->shards * (sb->replicas + 1L) > HF_NETNS_MAX_NODES)
		return hf_err_set(err, HF_EINVAL, "sandbox: --netns takes at most %d nodes",
				  HF_NETNS_MAX_NODES);
	if ((o->ranges != NULL) != (o->nranges != NULL) || (o->ranges && o->standalone))
		return hf_err_set(err, HF_EINVAL, "sandbox: slot ranges need both lists, and cluster mode");
	sb->ranges = o->ranges;
	sb->nranges = o->nranges;
	if (o->standalone && sb->shards != 1)
		return hf_err_set(err, HF_EINVAL, "a standalone sandbox has one primary ('--shards %d' given)",
				  sb->shards);
	if ((long)sb->shards * (sb->replicas + 1L) > MAX_NODES)
		return hf_err_set(err, HF_EINVAL, "a sandbox has at most %d nodes (%ld asked for)",
				  MAX_NODES, (long)sb->shards * (sb->replicas + 1L));
	last = sb->base_port + (long)sb->shards * (sb->replicas + 1L) - 1 + (sb->cluster ? BUS_OFFSET : 0);
	if (sb->base_port < 1024 || last > 65535)
		return hf_err_set(err, HF_EINVAL, "base port %d does not fit: the sandbox needs ports %d-%ld%s",
				  sb->base_port, sb->base_port, last,
				  sb->cluster ? " (bus ports included)" : "");
	if (o->password) {
		if (!*o->password)
			return hf_err_set(err, HF_EINVAL, "the sandbox password is empty");
		/* Keeps it a single unquoted token in redis.conf and in CONFIG
		 * REWRITE's output, so we can read it back. */
		for (p = o->password; *p; p++)
			if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\'' || *p == '\\')
				return hf_err_set(err, HF_EINVAL,
						  "the sandbox password must not contain spaces, quotes, backslashes or control characters");
		sb->password = hf_xstrdup(o->password);
		sb->has_password = 1;
	}
	return 0;
}

/* Refuse a directory with a sandbox that is up; clear away one that is
 * not (its processes are all gone). */
static int clear_stale(const char *dir, struct hf_err *err)
{
	struct sandbox old;
	size_t i;
	int rc = load_state(dir, &old, err);
	char *path;

	if (rc == 1)
		return 0;
	if (rc) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		return hf_err_set(err, HF_EINVAL, "%s (remove it if no sandbox runs there)", why);
	}
	for (i = 0; i < old.n; i++) {
		if (live_pid(&old, &old.nodes[i])) {
			rc = hf_err_set(err, HF_EINVAL,
					"a sandbox is already up in '%s' (node %d is running; use 'hotfix sandbox down' first)",
					dir, old.nodes[i].port);
			sandbox_release(&old);
			return rc;
		}
	}
	for (i = 0; i < old.n; i++)
		remove_node_dir(old.nodes[i].dir);
	if (old.net)
		hf_netns_destroy(old.net, old.n);
	path = state_path(dir);
	unlink(path);
	free(path);
	sandbox_release(&old);
	return 0;
}

/* Whether every socket on local 'port' is in TIME_WAIT (/proc/net/tcp
 * state 06): closed connections that free the port within a minute. */
static int only_time_wait(int port)
{
	static const char *tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char want[8];
	size_t t;
	int seen = 0;

	snprintf(want, sizeof(want), ":%04X", port);
	for (t = 0; t < 2; t++) {
		char *text = slurp(tables[t]);
		char *line, *save = NULL;

		for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save)) {
			char local[64], state[8];

			if (sscanf(line, "%*s %63s %*s %7s", local, state) != 2)
				continue;
			if (strlen(local) < 5 || strcmp(local + strlen(local) - 5, want))
				continue;
			if (strcmp(state, "06")) {
				free(text);
				return 0;
			}
			seen = 1;
		}
		free(text);
	}
	return seen;
}

static int port_in_use(int port, int of, struct hf_err *err)
{
	char what[64] = "";

	if (of)
		snprintf(what, sizeof(what), " (the cluster bus port of %d)", of);
	return hf_err_set(err, HF_EINVAL, "port %d%s is in use on %s (%s)", port, what, HOST,
			  only_time_wait(port) ?
			  "by connections closing in TIME_WAIT; try again in a minute or choose another --base-port" :
			  "choose another --base-port");
}

static int check_ports(const struct sandbox *sb, struct hf_err *err)
{
	size_t i;


	for (i = 0; i < sb->n; i++) {
		int port = sb->nodes[i].port;

		if (!port_free(port))
			return port_in_use(port, 0, err);
		if (sb->cluster && !port_free(port + BUS_OFFSET))
			return port_in_use(port + BUS_OFFSET, port, err);
	}
	return 0;
}

/* --netns: a network namespace for every node, their addresses. */
static int make_netns(struct sandbox *sb, struct hf_err *err)
{
	int rc = hf_netns_create(sb->n, &sb->net, err);

	if (!rc)
		set_hosts(sb);
	return rc;
}

/* Give every node a fresh directory of its own with its redis.conf. A
 * directory that is in the way and not ours is left alone: refuse. */
static int prepare_dirs(const struct sandbox *sb, struct hf_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < sb->n; i++) {
		const struct node *nd = &sb->nodes[i];
		char *marker = hf_xasprintf("%s/" MARKER, nd->dir);
		int theirs = !access(nd->dir, F_OK) && access(marker, F_OK);

		free(marker);
		if (theirs && rmdir(nd->dir))
			return hf_err_set(err, HF_EINVAL, "'%s' is in the way and was not made by hotfix",
					  nd->dir);
	}
	for (i = 0; i < sb->n; i++) {
		remove_node_dir(sb->nodes[i].dir);
		if (mkdir(sb->nodes[i].dir, 0700))
			return hf_err_set(err, HF_ERR, "cannot create '%s': %s", sb->nodes[i].dir,
					  strerror(errno));
		if ((rc = write_conf(sb, &sb->nodes[i], err)))
			return rc;
	}
	return 0;
}

/* A fresh CA and certificates in the sandbox's TLS_DIR, marked as ours
 * so that 'down' removes them with the nodes. */
static int prepare_certs(const struct sandbox *sb, struct hf_err *err)
{
	char *dir = hf_xasprintf("%s/" TLS_DIR, sb->dir);
	char *marker = hf_xasprintf("%s/" MARKER, dir);
	int rc;

	remove_node_dir(dir);
	rc = hf_sandbox_make_certs(dir, err);
	if (!rc)
		rc = write_file(marker, "made by hotfix sandbox up\n", 0600, err);
	free(dir);
	free(marker);
	return rc;
}

/* Descriptors enough for this process and, as they inherit the limit,
 * for the nodes: raised up to the hard limit, refused beyond it. */
static int reserve_fds(const struct sandbox *sb, struct hf_err *err)
{
	long need = hf_sandbox_fds_needed(sb->n), limit;

	if (!hf_proc_fds_reserve(need, &limit))
		return 0;
	return hf_err_set(err, HF_EINVAL, "a sandbox of %zu nodes needs %ld open files per process, "
			  "the limit is %ld: raise it (ulimit -n %ld, as root for more than "
			  "'ulimit -Hn') or start fewer nodes", sb->n, need, limit, need);
}

int hf_sandbox_up(const struct hf_sandbox_opts *o, char **seed_uri, struct hf_err *err)
{
	struct sandbox sb = {0};
	const char *server = o->redis_server;
	long long deadline;
	char *state = NULL;
	size_t i;
	int rc, started = 0;
	struct hf_err local;

	if (!err)
		err = &local;   /* the steps below read err->code */
	if ((rc = check_opts(o, &sb, err)))
		goto out;
	if (!server || !*server)
		server = getenv("HOTFIX_REDIS_SERVER");
	if (!(sb.server = resolve_server(server && *server ? server : "redis-server", err))) {
		rc = err->code;
		goto out;
	}
	if ((rc = hf_mkdir_p(o->dir, 0700, err)))
		goto out;
	if (!(sb.dir = realpath(o->dir, NULL))) {
		rc = hf_err_set(err, HF_ERR, "cannot use '%s': %s", o->dir, strerror(errno));
		goto out;
	}
	layout(&sb);
	if ((rc = reserve_fds(&sb, err)))
		goto out;
	/* With --netns each node has a namespace, and ports, of its own. */
	if ((rc = clear_stale(sb.dir, err)) || (!o->netns && (rc = check_ports(&sb, err))) ||
	    (o->netns && (rc = make_netns(&sb, err))) ||
	    (sb.tls && (rc = prepare_certs(&sb, err))) || (rc = prepare_dirs(&sb, err)))
		goto out;

	/* Recorded before anything starts, so that 'down' finds the nodes
	 * through their pidfiles even if this process dies half-way. */
	if ((rc = save_state(&sb, err)))
		goto out;
	state = state_path(sb.dir);
	sb.progress = o->progress;
	sb.progress_ud = o->progress_ud;
	sb.timeout_ms = hf_sandbox_up_timeout_ms(sb.n);
	sb.t0 = hf_mono_ms();
	deadline = sb.t0 + sb.timeout_ms;
	for (i = 0; i < sb.n; i++) {
		if ((rc = spawn(&sb, &sb.nodes[i], err)))
			goto out;
		started = 1;
	}
	if ((rc = wait_started(&sb, deadline, err)) || (rc = save_state(&sb, err)))
		goto out;
	if (sb.cluster && ((rc = prepare_nodes(&sb, err)) || (rc = meet_all(&sb, err))))
		goto out;
	if ((sb.cluster && (rc = attach_replicas(&sb, deadline, err))) ||
	    (rc = wait_agreed(&sb, deadline, err)))
		goto out;
	*seed_uri = seed_of(&sb, &sb.nodes[0]);
out:
	if (rc && started) {
		struct hf_sandbox_down_result res = {0};

		settle(&sb);
		stop_nodes(&sb, &res, NULL);
		unlink(state);
	} else if (rc && state) {
		unlink(state);
	}
	if (rc && sb.net)
		hf_netns_destroy(sb.net, sb.n);
	free(state);
	sandbox_release(&sb);
	return rc;
}

/* Remove node directories that a failed 'up' left behind for diagnosis
 * (no sandbox.json), unless a redis-server still runs in one. */
static void remove_leftovers(const char *dir)
{
	struct sandbox sb = {0};
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct node nd = {0};
		size_t len = strspn(e->d_name, "0123456789");

		if (!len || e->d_name[len] || len > 5)
			continue;
		nd.port = atoi(e->d_name);
		nd.dir = hf_xasprintf("%s/%s", dir, e->d_name);
		if (!pid_is_ours(&sb, read_pidfile(&nd), nd.port))
			remove_node_dir(nd.dir);
		free(nd.dir);
	}
	closedir(d);
	rmdir(dir);
}

int hf_sandbox_down(const char *dir, struct hf_sandbox_down_result *res, struct hf_err *err)
{
	struct sandbox sb;
	char *state;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!dir)
		return hf_err_set(err, HF_EINVAL, "sandbox: no directory given");
	rc = load_state(dir, &sb, err);
	if (rc == 1) {
		remove_leftovers(dir);
		return 0;
	}
	if (rc)
		return rc;
	res->found = 1;
	if ((rc = stop_nodes(&sb, res, err)))
		goto out;
	for (i = 0; i < sb.n; i++)
		remove_node_dir(sb.nodes[i].dir);
	if (sb.net)
		hf_netns_destroy(sb.net, sb.n);
	state = hf_xasprintf("%s/" TLS_DIR, dir);
	remove_node_dir(state);
	free(state);
	state = state_path(dir);
	if (unlink(state) && errno != ENOENT)
		rc = hf_err_set(err, HF_ERR, "cannot remove '%s': %s", state, strerror(errno));
	free(state);
	rmdir(dir);   /* only when empty: it may be the user's own directory */
out:
	sandbox_release(&sb);
	return rc;
}

/* Describe every node of 'sb' into 'out': pid, state and live role, from
 * one INFO replication to every node whose process is alive. */
static void survey(struct sandbox *sb, struct hf_sandbox_node *out)
{
	struct hf_call *calls = hf_xcalloc(sb->n, sizeof(*calls));
	size_t i, k, n = 0;

	for (i = 0; i < sb->n; i++) {
		const struct node *nd = &sb->nodes[i];

		memset(&out[i], 0, sizeof(out[i]));
		out[i].port = nd->port;
		snprintf(out[i].host, sizeof(out[i].host), "%s", nd->host);
		out[i].shard = nd->shard;
		out[i].planned_replica = nd->replica;
		out[i].pid = live_pid(sb, nd);
		out[i].state = out[i].pid ? HF_SANDBOX_NODE_HUNG : HF_SANDBOX_NODE_DOWN;
		if (!out[i].pid)
			out[i].pid = nd->pid;
		else
			hf_call_push(add_call(sb, calls, &n, i), "INFO", "replication", NULL);
	}
	if (n)
		hf_fanout(fan_of(sb), calls, n, probe_timeout_ms(sb));
	for (k = 0; k < n; k++) {
		struct hf_sandbox_node *o = &out[node_of(sb, &calls[k])];
		const char *info = text_of(&calls[k], 0);
		char role[16];

		if (!info || hf_info_field(info, "role", role, sizeof(role)))
			continue;
		o->state = HF_SANDBOX_NODE_UP;
		snprintf(o->role, sizeof(o->role), "%s",
			 !strcmp(role, "master") ? "primary" : !strcmp(role, "slave") ? "replica" : role);
	}
	hf_calls_release(calls, n);
	free(calls);
}

static int load_existing(const char *dir, struct sandbox *sb, int code, struct hf_err *err)
{
	int rc = load_state(dir, sb, err);

	if (rc == 1)
		return hf_err_set(err, code, "no sandbox in '%s' (start one with 'hotfix sandbox up')",
				  dir ? dir : "(no state directory)");
	return rc;
}

int hf_sandbox_status(const char *dir, struct hf_sandbox_node **nodes, size_t *n,
		      char **seed_uri, const char **mode, struct hf_err *err)
{
	struct sandbox sb;
	int rc = load_existing(dir, &sb, HF_ERR, err);

	if (rc)
		return rc;
	*nodes = hf_xcalloc(sb.n, sizeof(**nodes));
	*n = sb.n;
	survey(&sb, *nodes);
	if (seed_uri)
		*seed_uri = seed_of(&sb, &sb.nodes[0]);
	if (mode)
		*mode = sb.cluster ? "cluster" : "standalone";
	sandbox_release(&sb);
	return 0;
}

int hf_sandbox_seed(const char *dir, char **seed_uri, struct hf_err *err)
{
	struct hf_sandbox_node *nodes;
	struct sandbox sb;
	size_t i;
	int rc = load_existing(dir, &sb, HF_EINVAL, err);

	if (rc)
		return rc;
	nodes = hf_xcalloc(sb.n, sizeof(*nodes));
	survey(&sb, nodes);
	rc = hf_err_set(err, HF_EUNREACH, sb.cluster ? "no node of the sandbox in '%s' answers" :
			"the primary of the sandbox in '%s' does not answer", dir);
	for (i = 0; i < sb.n; i++) {
		/* Without cluster mode only the primary shows the topology. */
		if (nodes[i].state == HF_SANDBOX_NODE_UP &&
		    (sb.cluster || !strcmp(nodes[i].role, "primary"))) {
			*seed_uri = seed_of(&sb, &sb.nodes[i]);
			rc = 0;
			break;
		}
	}
	free(nodes);
	sandbox_release(&sb);
	return rc;
}

int hf_sandbox_tls_files(const char *dir, char **cacert, char **cert, char **key)
{
	char *state = state_path(dir);
	char *ca = hf_xasprintf("%s/" TLS_DIR "/ca.crt", dir);
	int rc = access(state, F_OK) || access(ca, R_OK) ? -1 : 0;

	free(state);
	if (rc) {
		free(ca);
		return rc;
	}
	*cacert = ca;
	*cert = hf_xasprintf("%s/" TLS_DIR "/client.crt", dir);
	*key = hf_xasprintf("%s/" TLS_DIR "/client.key", dir);
	return 0;
}

/* Wait for node 'nd', just spawned, to have a live pid, up to 'deadline'. */
static int wait_spawned(struct sandbox *sb, struct node *nd, long long deadline,
			struct hf_err *err)
{
	for (;;) {
		int st = poll_process(sb, nd, err);

		if (st < 0)
			return st;
		if (st == 1)
			return 0;
		if (hf_mono_ms() >= deadline)
			return hf_err_set(err, HF_ERR, "node %d did not start in time", nd->port);
		hf_sleep_ms(20);
	}
}

int hf_sandbox_node_restart(const char *dir, int port, long wait_ms, struct hf_err *err)
{
	struct sandbox sb;
	struct node *nd = NULL;
	char *pidfile;
	size_t i;
	int rc = load_existing(dir, &sb, HF_EINVAL, err);

	if (rc)
		return rc;
	for (i = 0; i < sb.n; i++)
		if (sb.nodes[i].port == port)
			nd = &sb.nodes[i];
	if (!nd)
		rc = hf_err_set(err, HF_EINVAL, "the sandbox in '%s' has no node on port %d", dir, port);
	else if (live_pid(&sb, nd))
		rc = hf_err_set(err, HF_EREFUSED, "node %d is still running", port);
	if (rc) {
		sandbox_release(&sb);
		return rc;
	}
	/* A stale pidfile would be read as the new process's. */
	pidfile = hf_xasprintf("%s/redis.pid", nd->dir);
	unlink(pidfile);
	free(pidfile);
	nd->pid = 0;
	rc = spawn(&sb, nd, err);
	if (!rc)
		rc = wait_spawned(&sb, nd, hf_mono_ms() + wait_ms, err);
	if (!rc)
		rc = save_state(&sb, err);
	sandbox_release(&sb);
	return rc;
}

int hf_sandbox_node_partition(const char *dir, int port, int cut, struct hf_err *err)
{
	struct sandbox sb;
	size_t i;
	int rc = load_existing(dir, &sb, HF_EINVAL, err);

	if (rc)
		return rc;
	for (i = 0; i < sb.n && sb.nodes[i].port != port; i++)
		;
	if (i == sb.n)
		rc = hf_err_set(err, HF_EINVAL, "the sandbox in '%s' has no node on port %d", dir, port);
	else if (!sb.net)
		rc = hf_err_set(err, HF_EINVAL, "the sandbox in '%s' was not made with --netns: its "
				"nodes share one network and cannot be cut off", dir);
	else
		rc = hf_netns_link(sb.net, i, !cut, err);
	sandbox_release(&sb);
	return rc;
}

int hf_sandbox_netns(const char *dir)
{
	struct sandbox sb;
	int net;

	if (load_state(dir, &sb, NULL))
		return 0;
	net = sb.net;
	sandbox_release(&sb);
	return net != 0;
}

int hf_sandbox_heal(const char *dir, struct hf_err *err)
{
	struct sandbox sb;
	size_t i;
	int rc = load_existing(dir, &sb, HF_EINVAL, err);

	for (i = 0; !rc && sb.net && i < sb.n; i++)
		rc = hf_netns_link(sb.net, i, 1, err);
	sandbox_release(&sb);   /* zeroed when there was none */
	return rc;
}
