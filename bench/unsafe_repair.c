/* The unsafe repair (issue 16, benchmark item 3): the data hotfix of
 * bench/data_repair.sh done with no safety at all, the fastest plain
 * client a hash repair could be: no before-images, no digests, no
 * journal, no conflict checks, nothing kept.
 *
 *   bench_unsafe_repair [options] HOST:PORT...
 *
 * An address is HOST:PORT or redis://HOST:PORT. One address: a seed; the primaries come from its CLUSTER NODES (a node
 * not in cluster mode is the one primary). Several: the primaries as
 * given. Options:
 *
 *   --match PATTERN   SCAN MATCH pattern (default user:*)
 *   --field F         the hash field tested and set (default plan)
 *   --from V          the value that selects a key (default legacy)
 *   --to V            the value written (default basic)
 *   --back            swap --from and --to (the unsafe "rollback": plan
 *                     legacy where plan is basic)
 *   --count N         SCAN COUNT (default 1000)
 *
 * Per primary, one thread with its own blocking connection (the primaries
 * all at once, as hotfix works on them): SCAN cursor MATCH pattern COUNT n;
 * for the batch of keys, one pipeline of HGET key field; then one pipeline
 * of HSET key field to for the keys whose field equals from. Three round
 * trips per batch, one batch at a time per primary.
 *
 * Prints one line:
 *   scanned N changed N errors N seconds S keys_per_s R
 * keys_per_s being keys changed per second of wall time, from before the
 * threads connect to after the last one is done. Exit status 1 if any
 * command failed (errors > 0) or a primary could not be reached. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct primary {
	char host[256];
	int port;
	pthread_t th;
	long long scanned, changed, errors;
	int failed;
};

static const char *g_match = "user:*", *g_field = "plan", *g_from = "legacy", *g_to = "basic";
static long g_count = 1000;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int split_addr(const char *s, char *host, size_t hostsz, int *port)
{
	const char *c;
	size_t n;

	if (!strncmp(s, "redis://", 8))   /* hotfix's cluster URI */
		s += 8;
	c = strrchr(s, ':');

	if (!c || c == s || (n = (size_t)(c - s)) >= hostsz)
		return -1;
	memcpy(host, s, n);
	host[n] = 0;
	*port = atoi(c + 1);
	return *port > 0 ? 0 : -1;
}

static void *repair(void *arg)
{
	struct primary *p = arg;
	redisContext *c = redisConnect(p->host, p->port);
	char cursor[32] = "0", countbuf[32];
	size_t fl = strlen(g_field), tl = strlen(g_to), froml = strlen(g_from);
	redisReply **gets = NULL;
	size_t cap = 0;

	if (!c || c->err) {
		fprintf(stderr, "unsafe_repair: %s:%d: %s\n", p->host, p->port,
			c ? c->errstr : "cannot connect");
		p->failed = 1;
		if (c)
			redisFree(c);
		return NULL;
	}
	snprintf(countbuf, sizeof(countbuf), "%ld", g_count);
	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT %s", cursor, g_match, countbuf);
		redisReply *keys;
		size_t i, n, nset = 0;

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			fprintf(stderr, "unsafe_repair: %s:%d: SCAN: %s\n", p->host, p->port,
				r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
			p->failed = 1;
			if (r)
				freeReplyObject(r);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		keys = r->element[1];
		n = keys->elements;
		p->scanned += (long long)n;
		if (n > cap) {
			cap = n;
			gets = realloc(gets, cap * sizeof(*gets));
		}
		/* The filter field of every key of the batch, one pipeline. */
		for (i = 0; i < n; i++) {
			const char *argv[3] = {"HGET", keys->element[i]->str, g_field};
			size_t lens[3] = {4, keys->element[i]->len, fl};

			redisAppendCommandArgv(c, 3, argv, lens);
		}
		for (i = 0; i < n; i++)
			if (redisGetReply(c, (void **)&gets[i]) != REDIS_OK) {
				fprintf(stderr, "unsafe_repair: %s:%d: %s\n", p->host, p->port, c->errstr);
				p->failed = 1;
				goto out;
			}
		/* The new value where it matches, one pipeline. */
		for (i = 0; i < n; i++) {
			redisReply *g = gets[i];

			if (g->type == REDIS_REPLY_STRING && g->len == froml &&
			    !memcmp(g->str, g_from, froml)) {
				const char *argv[4] = {"HSET", keys->element[i]->str, g_field, g_to};
				size_t lens[4] = {4, keys->element[i]->len, fl, tl};

				redisAppendCommandArgv(c, 4, argv, lens);
				nset++;
			} else if (g->type == REDIS_REPLY_ERROR) {
				p->errors++;
			}
			freeReplyObject(g);
		}
		for (i = 0; i < nset; i++) {
			redisReply *w;

			if (redisGetReply(c, (void **)&w) != REDIS_OK) {
				fprintf(stderr, "unsafe_repair: %s:%d: %s\n", p->host, p->port, c->errstr);
				p->failed = 1;
				goto out;
			}
			if (w->type == REDIS_REPLY_ERROR)
				p->errors++;
			else
				p->changed++;
			freeReplyObject(w);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
out:
	free(gets);
	redisFree(c);
	return NULL;
}

/* The primaries of the cluster the seed belongs to, from CLUSTER NODES:
 * "<id> <ip:port@cport[,hostname]> <flags> ..." with "master" among the
 * flags and not "fail". */
static int discover(const char *seed, struct primary **out, int *n)
{
	char host[256];
	int port;
	redisContext *c;
	redisReply *r;

	if (split_addr(seed, host, sizeof(host), &port))
		return -1;
	c = redisConnect(host, port);
	if (!c || c->err) {
		fprintf(stderr, "unsafe_repair: %s: %s\n", seed, c ? c->errstr : "cannot connect");
		return -1;
	}
	r = redisCommand(c, "CLUSTER NODES");
	*n = 0;
	if (r && r->type == REDIS_REPLY_STRING) {
		char *save = NULL, *line;

		for (line = strtok_r(r->str, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char id[64], addr[300], flags[200];
			char *at;

			if (sscanf(line, "%63s %299s %199s", id, addr, flags) != 3 ||
			    !strstr(flags, "master") || strstr(flags, "fail") || strstr(flags, "noaddr"))
				continue;
			if ((at = strchr(addr, '@')))
				*at = 0;
			*out = realloc(*out, (size_t)(*n + 1) * sizeof(**out));
			memset(&(*out)[*n], 0, sizeof(**out));
			if (split_addr(addr, (*out)[*n].host, sizeof((*out)[*n].host), &(*out)[*n].port))
				continue;
			if (!strcmp((*out)[*n].host, ""))   /* "myself" with no address yet */
				snprintf((*out)[*n].host, sizeof((*out)[*n].host), "%s", host);
			(*n)++;
		}
	}
	if (!*n) {   /* not a cluster: the seed is the one primary */
		*out = calloc(1, sizeof(**out));
		snprintf((*out)[0].host, sizeof((*out)[0].host), "%s", host);
		(*out)[0].port = port;
		*n = 1;
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_unsafe_repair [--match P] [--field F] [--from V] [--to V] "
			"[--back] [--count N] HOST:PORT...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct primary *ps = NULL;
	int i, n = 0, nargs = 0, back = 0, bad = 0;
	const char *addrs[256];
	long long scanned = 0, changed = 0, errors = 0;
	double t0, secs;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--back"))
			back = 1;
		else if (i + 1 < argc && !strcmp(a, "--match"))
			g_match = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--field"))
			g_field = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--from"))
			g_from = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--to"))
			g_to = argv[++i];
		else if (i + 1 < argc && !strcmp(a, "--count"))
			g_count = atol(argv[++i]);
		else if (a[0] == '-' || nargs == 256)
			usage();
		else
			addrs[nargs++] = a;
	}
	if (!nargs || g_count < 1)
		usage();
	if (back) {
		const char *t = g_from;

		g_from = g_to;
		g_to = t;
	}
	t0 = now_s();
	if (nargs == 1) {
		if (discover(addrs[0], &ps, &n))
			return 1;
	} else {
		ps = calloc((size_t)nargs, sizeof(*ps));
		for (n = 0; n < nargs; n++)
			if (split_addr(addrs[n], ps[n].host, sizeof(ps[n].host), &ps[n].port))
				usage();
	}
	for (i = 0; i < n; i++)
		if (pthread_create(&ps[i].th, NULL, repair, &ps[i])) {
			perror("pthread_create");
			return 1;
		}
	for (i = 0; i < n; i++) {
		pthread_join(ps[i].th, NULL);
		scanned += ps[i].scanned;
		changed += ps[i].changed;
		errors += ps[i].errors;
		bad |= ps[i].failed;
	}
	secs = now_s() - t0;
	printf("scanned %lld changed %lld errors %lld seconds %.3f keys_per_s %.0f\n", scanned,
	       changed, errors, secs, secs > 0 ? (double)changed / secs : 0.0);
	free(ps);
	return bad || errors ? 1 : 0;
}
