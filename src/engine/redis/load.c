/* The load generator behind 'hotfix load': one poll() loop over non-blocking
 * hiredis connections, a slot map kept current from MOVED replies and
 * CLUSTER SLOTS, a token bucket, a latency histogram (core/stats.h), per-shard
 * outage windows, and the write check (a bitmap of acknowledged SETs, read
 * back and deleted at the end through the same loop).
 * It counts what happens; it never prints (src/cmd/load.c does). */
#include "engine/redis/load.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/stats.h"
#include "engine/redis/internal.h"
#include "engine/redis/loadmix.h"
#include "util/buf.h"

#define NSLOTS 16384
#define MAX_REDIRECTS 5          /* per request, MOVED and ASK together */
#define RECONNECT_US 100000      /* wait before re-opening a failed connection */
#define REFRESH_US 100000        /* at most one CLUSTER SLOTS per this period */
#define POLL_MAX_MS 20           /* how long stop flags and timeouts may wait */
#define RETRY_US 100000          /* wait before trying a check key again */
#define CHECK_DEPTH 32           /* pipeline depth, at least, of read-back and clean-up */

/* The error type of a GET that found an acknowledged key missing or changed;
 * told apart from error replies by its address. */
static const char LOST[] = "lost";

static volatile sig_atomic_t stop_all;

void hf_load_stop(void)
{
	stop_all = 1;
}

/* ---- latency ---------------------------------------------------------- */

/* The latency at percentile 'p' of 'h' (core/stats.h: within 0.4 % of the
 * true order statistic) in milliseconds; 0 when no request succeeded, as
 * the report has always said then (a JSON number cannot be NaN). */
static double latency_ms(const struct hf_hist *h, double p)
{
	double us = hf_hist_percentile(h, p);

	return isnan(us) ? 0 : us / 1000.0;
}

/* ---- state ------------------------------------------------------------- */

/* GET and SET are the traffic, or with a mix OP (one of its ops; GET and
 * SET stay the checked ones with check_writes); VGET (a GET of the
 * read-back) and DEL (the clean-up) come after it with check_writes. These
 * five are "work": they take pipeline room. */
enum req_kind { REQ_GET, REQ_SET, REQ_OP, REQ_VGET, REQ_DEL, REQ_ASKING, REQ_AUTH, REQ_SLOTS };

enum phase { PH_LOAD, PH_VERIFY, PH_DELETE };

struct req {
	long key;       /* N of a load key, or SEQ of a check key */
	uint8_t kind;
	uint8_t redirects;
	uint8_t op;     /* REQ_OP: enum hf_load_op */
	int16_t shard;  /* index into the report's shards, -1 for none */
	uint32_t arg;   /* REQ_OP: drawn with it, picks a field or member */
	int64_t t0;     /* first send, for latency */
	int64_t sent;   /* sent on this connection, for the timeout; in the
			 * retry queue: not to be sent again before */
	int64_t deadline; /* VGET and DEL: no retry after this */
};

/* A FIFO of requests that grows as needed. */
struct ring {
	struct req *v;
	size_t cap, head, count;
};

static struct req *ring_at(struct ring *q, size_t i)
{
	return &q->v[(q->head + i) % q->cap];
}

static void ring_grow(struct ring *q)
{
	size_t cap = q->cap ? q->cap * 2 : 8, i;
	struct req *v = hf_xmalloc(cap * sizeof(*v));

	for (i = 0; i < q->count; i++)
		v[i] = *ring_at(q, i);
	free(q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
}

static void ring_push(struct ring *q, const struct req *r, int front)
{
	if (q->count == q->cap)
		ring_grow(q);
	if (front) {
		q->head = (q->head + q->cap - 1) % q->cap;
		q->v[q->head] = *r;
	} else {
		*ring_at(q, q->count) = *r;
	}
	q->count++;
}

static struct req ring_pop(struct ring *q)
{
	struct req r = q->v[q->head];

	q->head = (q->head + 1) % q->cap;
	q->count--;
	return r;
}

enum conn_state { CONN_DEAD, CONN_CONNECTING, CONN_UP };

struct conn {
	struct node *node;
	redisContext *c;          /* NULL when dead */
	enum conn_state state;
	int wpending;             /* output buffered, not yet written */
	int opened;               /* has been opened before: the next open is a reconnect */
	struct ring q;            /* what was sent (or queued while dead), oldest first */
	int work;                 /* GET/SET in 'q', limited by the pipeline depth */
	int64_t retry_at;
	int64_t since;            /* connect started */
};

struct node {
	char *host;
	int port;
	struct conn *conns;
	int nconns;
	int rr;                   /* next connection to try */
	long free;                /* pipeline room left over all its connections */
	struct ring pending;      /* drawn for this node while it had no room */
};

/* What the unavailable window (load.h) needs of a shard. */
struct shard_state {
	long inflight;            /* GET/SET for its keys drawn and not over */
	int64_t busy_since;       /* since when it owes a successful reply: the
				   * last one, or the first request after an
				   * idle time; -1 while idle */
	int64_t window;           /* longest such wait so far, us */
};

struct load {
	const struct hf_uri *uri;
	const struct hf_load_opts *o;
	struct hf_load_report *rep;
	enum phase phase;
	int depth;                /* requests in flight per connection */
	int cluster_mode;
	int per_node;             /* connections for a node found during the run */
	struct node **nodes;
	size_t nnodes;
	int slots[NSLOTS];        /* index into 'nodes', -1 when unknown */
	int16_t shard_of[NSLOTS]; /* the shard owning a slot at the start, -1: none */
	struct shard_state *sh;   /* rep->nshards of them */
	char *value_tail;         /* "$B\r\n<value>\r\n" */
	size_t value_tail_len;
	const char *filler;       /* the <value> of 'value_tail' */
	/* with a mix */
	double cum[HF_LOAD_NOPS]; /* cumulative shares of the ops */
	long space_keys[HF_LOAD_NSPACES]; /* keys per key space */
	char *fill;               /* filler of values and members, 'fill_max' bytes */
	size_t fill_max;
	/* check_writes */
	char run_id[17];
	uint64_t *acked;          /* bit SEQ: the SET of SEQ was answered OK */
	size_t acked_words;
	uint64_t nseq;            /* SETs drawn: keys [0, nseq) may exist */
	uint64_t cursor;          /* next SEQ to read back or delete */
	struct ring retry;        /* check keys to try again, by time */
	int64_t budget;           /* HF_LOAD_CHECK_TIMEOUTS timeouts, us */
	int64_t last_progress;    /* last answer to a VGET or DEL */
	char *cmd;                /* scratch for one formatted command */
	uint64_t rng;
	struct hf_hist hist;      /* latency of ok requests, us */
	double tokens, burst;
	int64_t tok_last;
	long long issued, finished;
	int refresh_wanted, refresh_inflight;
	int64_t last_refresh;
	int64_t now;
	struct pollfd *pfd;
	struct conn **pconn;
	size_t npfd_cap;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: fast, and good enough to pick keys and commands. */
static uint64_t rnd(struct load *L)
{
	L->rng ^= L->rng >> 12;
	L->rng ^= L->rng << 25;
	L->rng ^= L->rng >> 27;
	return L->rng * 0x2545F4914F6CDD1DULL;
}

/* Write 'n' in decimal to 'out' (no terminator); returns its length. */
static size_t put_u64(char *out, uint64_t n)
{
	char digits[24];
	size_t nd = 0, len = 0;

	do {
		digits[nd++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	while (nd)
		out[len++] = digits[--nd];
	return len;
}

#define KEY_MAX 200         /* a key's name, padded to the profile's sizes, is shorter */
#define MAX_ELEMENTS 100000 /* fields or members of a key, at most */
#define MAX_RANGE 1000      /* elements an LRANGE or ZRANGE asks for, at most */
#define MAX_FILL (1 << 20)  /* a value or member of a mix, at most */

/* ---- keys and sizes of a mix ---------------------------------------------- */

static double unit(uint64_t x)
{
	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

/* A property of key 'n' of key space 'space' (which one: 'salt'), the same
 * whenever it is drawn: splitmix64's finalizer of the three. */
static double key_u(long n, int space, int salt)
{
	uint64_t x = ((uint64_t)n << 8) ^ ((uint64_t)space << 3) ^ (uint64_t)salt;

	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return unit(x ^ (x >> 31));
}

/* 'v' rounded into [lo, hi]. */
static unsigned long clamp_ul(double v, unsigned long lo, unsigned long hi)
{
	if (!(v > (double)lo))
		return lo;
	return v + 0.5 >= (double)hi ? hi : (unsigned long)(v + 0.5);
}

/* The name of a mix key: "hotfix:load:<tag>{N}", padded with ":xxx" to the
 * length the profile's key sizes give key N. */
static size_t op_key(const struct load *L, const struct req *r, char *out)
{
	int space = hf_load_opdefs[r->op].space;
	size_t len, want;

	len = (size_t)snprintf(out, KEY_MAX, "%s%s{%ld}", HF_LOAD_KEY_PREFIX,
			       hf_load_space_tags[space], r->key);
	want = clamp_ul(hf_load_dist_at(&L->o->mix->key_size, key_u(r->key, space, 1), 0), 0,
			KEY_MAX - 1);
	if (want > len + 1) {
		out[len] = ':';
		memset(out + len + 1, 'x', want - len - 1);
		len = want;
		out[len] = '\0';
	}
	return len;
}

/* The arguments of mix request 'r' besides its key: its key's element
 * count and value size (the profile's distributions at the key's own
 * draws), the field or member it names. */
static void op_arg(const struct load *L, const struct req *r, struct hf_load_oparg *a)
{
	const struct hf_load_mix *m = L->o->mix;
	int space = hf_load_opdefs[r->op].space;
	int fam = space == HF_LOAD_COUNTERS ? HF_FAM_STRING : space;
	double dflt = (double)L->o->value_size;

	a->filler = L->fill;
	if (fam == HF_FAM_STRING) {
		a->vlen = clamp_ul(hf_load_dist_at(&m->length[fam], key_u(r->key, space, 2), dflt), 0,
				   L->fill_max);
		return;
	}
	a->count = clamp_ul(hf_load_dist_at(&m->length[fam], key_u(r->key, space, 2), 1), 1,
			    MAX_ELEMENTS);
	a->vlen = clamp_ul(hf_load_dist_at(&m->element_size[fam], key_u(r->key, space, 3), dflt), 0,
			   L->fill_max);
	a->idx = r->arg % a->count;
	if (a->count > MAX_RANGE)
		a->count = MAX_RANGE;
}

/* The key of 'r' into 'out' (KEY_MAX bytes): "hotfix:load:{N}", or with
 * check_writes "hotfix:check:RUN:{SEQ}". Returns its length. */
static size_t req_key(const struct load *L, const struct req *r, char *out)
{
	static const char load_prefix[] = HF_LOAD_KEY_PREFIX "{";
	static const char check_prefix[] = HF_LOAD_CHECK_PREFIX;
	size_t len;

	if (r->kind == REQ_OP)
		return op_key(L, r, out);
	if (L->o->check_writes) {
		len = sizeof(check_prefix) - 1;
		memcpy(out, check_prefix, len);
		memcpy(out + len, L->run_id, 16);
		len += 16;
		out[len++] = ':';
		out[len++] = '{';
	} else {
		len = sizeof(load_prefix) - 1;
		memcpy(out, load_prefix, len);
	}
	len += put_u64(out + len, (uint64_t)r->key);
	out[len++] = '}';
	out[len] = '\0';
	return len;
}

static int req_slot(const struct load *L, const struct req *r)
{
	char key[KEY_MAX];
	size_t len = req_key(L, r, key);

	return (int)hf_key_slot(key, len);
}

/* The length of the value a check SET writes for a SEQ of 'nd' digits: the
 * digits, then the filler up to --value-size (none when the digits are
 * longer). */
static size_t check_value_len(const struct load *L, size_t nd)
{
	return (size_t)L->o->value_size > nd ? (size_t)L->o->value_size : nd;
}

/* Whether 'rr' holds the value the check SET of 'seq' wrote. */
static int check_value_ok(const struct load *L, uint64_t seq, const redisReply *rr)
{
	char d[24];
	size_t nd = put_u64(d, seq), vlen = check_value_len(L, nd);

	if (rr->type != REDIS_REPLY_STRING || rr->len != vlen || memcmp(rr->str, d, nd))
		return 0;
	return vlen == nd || !memcmp(rr->str + nd, L->filler + nd, vlen - nd);
}

/* A 16-hex-digit name for the run, different for two runs started in the
 * same nanosecond by two processes: the clock, the pid and an address, mixed
 * by splitmix64's finalizer. */
static void make_run_id(struct load *L)
{
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	x ^= ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)L;
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 31;
	snprintf(L->run_id, sizeof(L->run_id), "%016llx", (unsigned long long)x);
}

/* ---- the write check's bookkeeping -------------------------------------- */

/* A new SEQ for a check SET; grows the bitmap to cover it. */
static uint64_t seq_new(struct load *L)
{
	uint64_t seq = L->nseq++;
	size_t need = (size_t)(seq / 64) + 1;

	if (need > L->acked_words) {
		size_t words = L->acked_words ? L->acked_words * 2 : 1024;

		L->acked = hf_xrealloc(L->acked, words * sizeof(*L->acked));
		memset(L->acked + L->acked_words, 0, (words - L->acked_words) * sizeof(*L->acked));
		L->acked_words = words;
	}
	return seq;
}

static void seq_ack(struct load *L, uint64_t seq)
{
	uint64_t bit = 1ULL << (seq % 64);

	if (!(L->acked[seq / 64] & bit)) {
		L->acked[seq / 64] |= bit;
		L->rep->acked_writes++;
	}
}

/* The first acknowledged SEQ at or after 'from', wrapping around once.
 * Returns 0 when there is none. */
static int seq_acked_from(const struct load *L, uint64_t from, uint64_t *seq)
{
	size_t nw = (size_t)((L->nseq + 63) / 64), w, i;
	uint64_t bits;

	if (!L->rep->acked_writes || from >= L->nseq)
		return 0;
	w = (size_t)(from / 64);
	bits = L->acked[w] & (~0ULL << (from % 64));
	for (i = 0; i <= nw; i++) {
		if (bits) {
			*seq = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(bits);
			return 1;
		}
		w = (w + 1) % nw;
		bits = L->acked[w];
	}
	return 0;
}

/* The next SEQ of the read-back (acknowledged ones, in order) or of the
 * clean-up (every one drawn). Returns 0 at the end. */
static int seq_next(struct load *L, uint64_t *seq)
{
	if (L->phase == PH_DELETE) {
		if (L->cursor >= L->nseq)
			return 0;
		*seq = L->cursor++;
		return 1;
	}
	if (L->cursor < L->nseq) {
		size_t w = (size_t)(L->cursor / 64);
		uint64_t bits = L->acked[w] & (~0ULL << (L->cursor % 64));

		/* Without wrapping: skip to the next word holding a bit. */
		while (!bits && ++w < (size_t)((L->nseq + 63) / 64))
			bits = L->acked[w];
		if (bits) {
			*seq = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(bits);
			L->cursor = *seq + 1;
			return 1;
		}
	}
	L->cursor = L->nseq;
	return 0;
}

/* Errors that a later try may not meet: the connection, the cluster
 * changing, a server still loading its data. */
static int transient(const char *type, size_t len)
{
	static const char *const words[] = { "conn", "timeout", "MOVED", "ASK", "CLUSTERDOWN",
					     "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY",
					     "BUSY" };
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == len && !memcmp(words[i], type, len))
			return 1;
	return 0;
}

/* ---- per-shard unavailable windows (defined in load.h) ------------------ */

/* 'r' is drawn: an idle shard starts owing a reply now. */
static void shard_sent(struct load *L, const struct req *r)
{
	struct shard_state *s;

	if (r->shard < 0)
		return;
	s = &L->sh[r->shard];
	s->inflight++;
	if (s->busy_since < 0)
		s->busy_since = L->now;
}

/* 'r' succeeded: the wait ends here, and the next one starts now if more
 * requests are out. */
static void shard_up(struct load *L, const struct req *r)
{
	struct shard_state *s;

	if (r->shard < 0)
		return;
	s = &L->sh[r->shard];
	s->inflight--;
	if (s->busy_since >= 0 && L->now - s->busy_since > s->window)
		s->window = L->now - s->busy_since;
	s->busy_since = s->inflight > 0 ? L->now : -1;
}

/* 'r' failed: the wait goes on until a success, even with nothing out. */
static void shard_down(struct load *L, const struct req *r)
{
	if (r->shard >= 0)
		L->sh[r->shard].inflight--;
}

static void count_error(struct load *L, const char *type, size_t len)
{
	struct hf_load_report *r = L->rep;
	size_t i;

	if (len >= sizeof(r->error_types[0].type))
		len = sizeof(r->error_types[0].type) - 1;
	r->errors++;
	for (i = 0; i < r->nerror_types; i++) {
		if (strlen(r->error_types[i].type) == len &&
		    !memcmp(r->error_types[i].type, type, len)) {
			r->error_types[i].n++;
			return;
		}
	}
	if (r->nerror_types == HF_LOAD_MAX_ERROR_TYPES) {
		/* Full: the last entry becomes the catch-all. */
		strcpy(r->error_types[HF_LOAD_MAX_ERROR_TYPES - 1].type, "other");
		r->error_types[HF_LOAD_MAX_ERROR_TYPES - 1].n++;
		return;
	}
	memcpy(r->error_types[r->nerror_types].type, type, len);
	r->error_types[r->nerror_types].type[len] = '\0';
	r->error_types[r->nerror_types].n = 1;
	r->nerror_types++;
}

/* A VGET or DEL is over. An answer is progress; a VGET answered counts as
 * verified, or lost when 'errtype' is LOST. An error the next try may not
 * meet queues the key again, until its deadline; other errors drop it
 * (unverifiable, or not deleted). */
static void check_finish(struct load *L, const struct req *r, const char *errtype, size_t len)
{
	L->finished++;
	if (!errtype || errtype == LOST) {
		L->last_progress = L->now;
		if (r->kind == REQ_VGET) {
			if (errtype)
				L->rep->lost++;
			else
				L->rep->verified++;
		}
		return;
	}
	if (transient(errtype, len) && L->now < r->deadline) {
		struct req again = *r;

		again.redirects = 0;
		again.sent = L->now + RETRY_US;
		ring_push(&L->retry, &again, 0);
	}
}

/* A request of the traffic succeeded: count it by op, by reads and writes,
 * and a checked SET as acknowledged. */
static void count_ok(struct load *L, const struct req *r)
{
	int op = r->kind == REQ_OP ? r->op : r->kind == REQ_GET ? HF_OP_GET : HF_OP_SET;

	L->rep->ops[op]++;
	if (op == HF_OP_GET)
		L->rep->gets++;
	else if (op == HF_OP_SET)
		L->rep->sets++;
	if (hf_load_opdefs[op].write)
		L->rep->writes++;
	else
		L->rep->reads++;
	if (r->kind == REQ_SET && L->o->check_writes)
		seq_ack(L, (uint64_t)r->key);
}

/* A request is over, with 'errtype' (length 'len') or NULL for success. */
static void finish(struct load *L, const struct req *r, const char *errtype, size_t len)
{
	if (r->kind == REQ_VGET || r->kind == REQ_DEL) {
		check_finish(L, r, errtype, len);
		return;
	}
	L->finished++;
	L->rep->requests++;
	if (errtype) {
		count_error(L, errtype, len);
		if (r->shard >= 0)
			L->rep->shards[r->shard].errors++;
		/* A read that found a write missing had an answer: the data is
		 * wrong, the shard is available. */
		if (errtype == LOST)
			shard_up(L, r);
		else
			shard_down(L, r);
		return;
	}
	L->rep->ok++;
	count_ok(L, r);
	hf_hist_record(&L->hist, L->now > r->t0 ? (uint64_t)(L->now - r->t0) : 0, 1);
	shard_up(L, r);
}

static void want_refresh(struct load *L)
{
	if (L->cluster_mode)
		L->refresh_wanted = 1;
}

/* ---- connections ------------------------------------------------------- */

static int is_work(const struct req *r)
{
	return r->kind <= REQ_DEL;
}

/* The command of mix request 'r' into 'b'; returns its length. */
static size_t format_op(const struct load *L, const struct req *r, char *b)
{
	char key[KEY_MAX];
	struct hf_load_oparg a = {0};

	a.key = key;
	a.klen = op_key(L, r, key);
	op_arg(L, r, &a);
	return hf_load_op_format(b, r->op, &a);
}

static void format_req(struct load *L, struct conn *k, struct req *r)
{
	char *b = L->cmd;
	size_t n = 0;

	switch (r->kind) {
	case REQ_GET:
	case REQ_VGET:
	case REQ_DEL:
	case REQ_SET: {
		char key[KEY_MAX];
		size_t klen = req_key(L, r, key);

		if (r->kind == REQ_SET)
			memcpy(b, "*3\r\n$3\r\nSET\r\n", 13);
		else if (r->kind == REQ_DEL)
			memcpy(b, "*2\r\n$3\r\nDEL\r\n", 13);
		else
			memcpy(b, "*2\r\n$3\r\nGET\r\n", 13);
		n = 13;
		n += (size_t)sprintf(b + n, "$%zu\r\n", klen);
		memcpy(b + n, key, klen);
		n += klen;
		memcpy(b + n, "\r\n", 2);
		n += 2;
		if (r->kind == REQ_SET && L->o->check_writes) {
			char d[24];
			size_t nd = put_u64(d, (uint64_t)r->key), vlen = check_value_len(L, nd);

			n += (size_t)sprintf(b + n, "$%zu\r\n", vlen);
			memcpy(b + n, d, nd);
			if (vlen > nd)
				memcpy(b + n + nd, L->filler + nd, vlen - nd);
			n += vlen;
			memcpy(b + n, "\r\n", 2);
			n += 2;
		} else if (r->kind == REQ_SET) {
			memcpy(b + n, L->value_tail, L->value_tail_len);
			n += L->value_tail_len;
		}
		break;
	}
	case REQ_OP:
		n = format_op(L, r, b);
		break;
	case REQ_ASKING:
		n = strlen(strcpy(b, "*1\r\n$6\r\nASKING\r\n"));
		break;
	case REQ_SLOTS:
		n = strlen(strcpy(b, "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n"));
		break;
	case REQ_AUTH: {
		const char *argv[3] = { "AUTH", L->uri->user, L->uri->password };
		char *out = NULL;
		int len;

		if (L->uri->user)
			len = redisFormatCommandArgv(&out, 3, argv, NULL);
		else {
			argv[1] = L->uri->password;
			len = redisFormatCommandArgv(&out, 2, argv, NULL);
		}
		if (len > 0)
			redisAppendFormattedCommand(k->c, out, (size_t)len);
		free(out);
		r->sent = L->now;
		k->wpending = 1;
		return;
	}
	}
	redisAppendFormattedCommand(k->c, b, n);
	r->sent = L->now;
	k->wpending = 1;
}

/* Queue 'r' on 'k' and, when it has a connection, put it on the wire
 * buffer. A dead connection keeps it until the next attempt to reopen. */
static void conn_push(struct load *L, struct conn *k, struct req r, int front)
{
	if (k->c && !front)
		format_req(L, k, &r);
	ring_push(&k->q, &r, front);
	if (is_work(&r)) {
		k->work++;
		k->node->free--;
	}
}

static struct req conn_pop(struct conn *k)
{
	struct req r = ring_pop(&k->q);

	if (is_work(&r)) {
		k->work--;
		k->node->free++;
	}
	return r;
}

/* Close 'k' and fail everything it carried as 'type'. It reopens after a
 * short wait; meanwhile the slot map is read again, since a connection
 * that breaks is often a node that failed over. */
static void conn_fail(struct load *L, struct conn *k, const char *type)
{
	while (k->q.count) {
		struct req r = conn_pop(k);

		if (is_work(&r))
			finish(L, &r, type, strlen(type));
		else if (r.kind == REQ_SLOTS)
			L->refresh_inflight = 0;
	}
	if (k->c)
		redisFree(k->c);
	k->c = NULL;
	k->state = CONN_DEAD;
	k->wpending = 0;
	k->retry_at = L->now + RECONNECT_US;
	want_refresh(L);
}

static void conn_open(struct load *L, struct conn *k)
{
	size_t i;

	if (k->opened && L->phase == PH_LOAD)
		L->rep->reconnects++;
	k->opened = 1;
	k->c = redisConnectNonBlock(k->node->host, k->node->port);
	hf_reply_bound(k->c);
	if (!k->c || k->c->err) {
		conn_fail(L, k, "conn");
		return;
	}
	k->state = CONN_CONNECTING;
	k->since = L->now;
	if (L->uri->password)
		conn_push(L, k, (struct req){ .kind = REQ_AUTH }, 1);
	/* Requests queued while it was dead go out now, in order. */
	for (i = 0; i < k->q.count; i++)
		format_req(L, k, ring_at(&k->q, i));
}

static void conn_write(struct load *L, struct conn *k)
{
	int done = 0;

	if (redisBufferWrite(k->c, &done) == REDIS_ERR) {
		conn_fail(L, k, "conn");
		return;
	}
	k->wpending = !done;
}

/* ---- nodes and the slot map ------------------------------------------- */

static int node_get(struct load *L, const char *host, size_t hostlen, int port, int nconns)
{
	struct node *n;
	size_t i;
	int j;

	for (i = 0; i < L->nnodes; i++) {
		n = L->nodes[i];
		if (n->port == port && strlen(n->host) == hostlen && !memcmp(n->host, host, hostlen))
			return (int)i;
	}
	n = hf_xcalloc(1, sizeof(*n));
	n->host = hf_xstrndup(host, hostlen);
	n->port = port;
	n->nconns = nconns > 0 ? nconns : 1;
	n->conns = hf_xcalloc((size_t)n->nconns, sizeof(*n->conns));
	for (j = 0; j < n->nconns; j++)
		n->conns[j].node = n;
	n->free = (long)n->nconns * L->depth;
	L->nodes = hf_xrealloc(L->nodes, (L->nnodes + 1) * sizeof(*L->nodes));
	L->nodes[L->nnodes] = n;
	return (int)L->nnodes++;
}

static void nodes_free(struct load *L)
{
	size_t i;
	int j;

	for (i = 0; i < L->nnodes; i++) {
		struct node *n = L->nodes[i];

		for (j = 0; j < n->nconns; j++) {
			if (n->conns[j].c)
				redisFree(n->conns[j].c);
			free(n->conns[j].q.v);
		}
		free(n->pending.v);
		free(n->conns);
		free(n->host);
		free(n);
	}
	free(L->nodes);
	L->nodes = NULL;
	L->nnodes = 0;
}

/* Apply a CLUSTER SLOTS reply: each range goes to its primary, the first
 * address listed. An empty host means "the node you asked". Returns the
 * number of ranges used. */
static int apply_slots(struct load *L, const redisReply *rr, const char *asked_host, int nconns)
{
	size_t i;
	int used = 0;

	if (rr->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i < rr->elements; i++) {
		const redisReply *e = rr->element[i], *p;
		const char *host;
		size_t hostlen;
		long long s, lo, hi;
		int idx;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER ||
		    e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
			continue;
		p = e->element[2];
		if (p->element[0]->type != REDIS_REPLY_STRING || p->element[1]->type != REDIS_REPLY_INTEGER)
			continue;
		lo = e->element[0]->integer;
		hi = e->element[1]->integer;
		if (lo < 0 || hi >= NSLOTS || lo > hi)
			continue;
		host = p->element[0]->str;
		hostlen = p->element[0]->len;
		if (!hostlen || !strcmp(host, "?")) {
			host = asked_host;
			hostlen = strlen(asked_host);
		}
		idx = node_get(L, host, hostlen, (int)p->element[1]->integer, nconns);
		for (s = lo; s <= hi; s++)
			L->slots[s] = idx;
		used++;
	}
	return used;
}

static void refresh_send(struct load *L)
{
	size_t i, start;
	int j;

	if (!L->refresh_wanted || L->refresh_inflight || L->now - L->last_refresh < REFRESH_US)
		return;
	start = L->nnodes ? (size_t)(rnd(L) % L->nnodes) : 0;
	for (i = 0; i < L->nnodes; i++) {
		struct node *n = L->nodes[(start + i) % L->nnodes];

		for (j = 0; j < n->nconns; j++) {
			if (n->conns[j].state == CONN_UP) {
				conn_push(L, &n->conns[j], (struct req){ .kind = REQ_SLOTS }, 0);
				L->refresh_inflight = 1;
				L->refresh_wanted = 0;
				L->last_refresh = L->now;
				return;
			}
		}
	}
}

/* A connection of 'n' for one more request: with pipeline room when
 * 'need_room', else any (redirected requests may exceed the depth). */
static struct conn *node_pick(struct load *L, struct node *n, int need_room)
{
	int i;

	if (need_room && n->free <= 0)
		return NULL;
	for (i = 0; i < n->nconns; i++) {
		struct conn *k = &n->conns[(n->rr + i) % n->nconns];

		if (!need_room || k->work < L->depth) {
			n->rr = (n->rr + i + 1) % n->nconns;
			return k;
		}
	}
	return NULL;
}

/* Follow "MOVED slot host:port" or "ASK slot host:port" for 'r'. */
static void redirect(struct load *L, struct req r, const char *msg, size_t len, int ask)
{
	const char *sp1 = memchr(msg, ' ', len), *sp2, *colon = NULL, *p;
	const char *type = ask ? "ASK" : "MOVED";
	long slot;
	int port, idx;
	struct conn *k;

	if (!sp1)
		goto bad;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - msg));
	if (!sp2)
		goto bad;
	for (p = sp2 + 1; p < msg + len; p++)
		if (*p == ':')
			colon = p;
	if (!colon || colon == sp2 + 1)
		goto bad;
	slot = strtol(sp1 + 1, NULL, 10);
	port = (int)strtol(colon + 1, NULL, 10);
	if (slot < 0 || slot >= NSLOTS || port <= 0 || port > 65535)
		goto bad;
	if (++r.redirects > MAX_REDIRECTS)
		goto bad;
	idx = node_get(L, sp2 + 1, (size_t)(colon - sp2 - 1), port, L->per_node);
	if (L->phase == PH_LOAD) {
		if (ask)
			L->rep->ask++;
		else
			L->rep->moved++;
	}
	if (!ask) {
		L->slots[slot] = idx;
		want_refresh(L);
	}
	k = node_pick(L, L->nodes[idx], 0);
	if (!k)
		goto bad;
	if (ask)
		conn_push(L, k, (struct req){ .kind = REQ_ASKING }, 0);
	conn_push(L, k, r, 0);
	return;
bad:
	finish(L, &r, type, strlen(type));
}

static void on_reply(struct load *L, struct conn *k, redisReply *rr)
{
	struct req r = conn_pop(k);
	size_t wl;

	switch (r.kind) {
	case REQ_ASKING:
		return;
	case REQ_AUTH:
		if (rr->type == REDIS_REPLY_ERROR)
			conn_fail(L, k, "auth");
		return;
	case REQ_SLOTS:
		L->refresh_inflight = 0;
		if (apply_slots(L, rr, k->node->host, L->per_node) > 0 && L->phase == PH_LOAD)
			L->rep->map_refreshes++;
		return;
	default:
		break;
	}
	if (rr->type != REDIS_REPLY_ERROR) {
		/* With check_writes a GET reads an acknowledged key: it must hold
		 * the value its SET wrote. */
		int read_back = r.kind == REQ_VGET || (r.kind == REQ_GET && L->o->check_writes);

		if (read_back && !check_value_ok(L, (uint64_t)r.key, rr))
			finish(L, &r, LOST, sizeof(LOST) - 1);
		else
			finish(L, &r, NULL, 0);
		return;
	}
	wl = strcspn(rr->str, " ");
	if (wl == 5 && !memcmp(rr->str, "MOVED", 5)) {
		redirect(L, r, rr->str, rr->len, 0);
		return;
	}
	if (wl == 3 && !memcmp(rr->str, "ASK", 3)) {
		redirect(L, r, rr->str, rr->len, 1);
		return;
	}
	/* The cluster is changing under us: read the map again soon. */
	if ((wl == 11 && !memcmp(rr->str, "CLUSTERDOWN", 11)) ||
	    (wl == 8 && !memcmp(rr->str, "TRYAGAIN", 8)) ||
	    (wl == 8 && !memcmp(rr->str, "READONLY", 8)))
		want_refresh(L);
	finish(L, &r, rr->str, wl);
}

static void conn_read(struct load *L, struct conn *k)
{
	void *reply;

	if (redisBufferRead(k->c) == REDIS_ERR) {
		conn_fail(L, k, "conn");
		return;
	}
	while (k->c) {
		reply = NULL;
		if (redisGetReplyFromReader(k->c, &reply) == REDIS_ERR) {
			conn_fail(L, k, "conn");
			return;
		}
		if (!reply)
			return;
		if (!k->q.count) {
			/* A reply nobody asked for: the stream cannot be trusted. */
			freeReplyObject(reply);
			conn_fail(L, k, "conn");
			return;
		}
		on_reply(L, k, reply);
		freeReplyObject(reply);
	}
}

static void conn_connected(struct load *L, struct conn *k)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(k->c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
		conn_fail(L, k, "conn");
		return;
	}
	k->state = CONN_UP;
	k->c->flags |= REDIS_CONNECTED;
}

/* ---- the loop ---------------------------------------------------------- */

/* Move requests waiting for a node to its connections as room frees up. */
static void drain_pending(struct load *L)
{
	size_t i;

	for (i = 0; i < L->nnodes; i++) {
		struct node *n = L->nodes[i];
		struct conn *k;

		while (n->pending.count && (k = node_pick(L, n, 1))) {
			struct req r = ring_pop(&n->pending);

			r.t0 = L->now;
			conn_push(L, k, r, 0);
		}
	}
}

/* Route a new request 'r' to the primary of its slot: on a connection with
 * pipeline room, else into the node's queue (client-side, not timed) so a
 * slow node gets its share and is not skipped. */
static void dispatch(struct load *L, struct req r)
{
	int slot = L->cluster_mode ? req_slot(L, &r) : 0, idx = L->slots[slot];
	struct node *n;

	r.shard = L->shard_of[slot];
	if (r.kind == REQ_GET || r.kind == REQ_SET || r.kind == REQ_OP)
		shard_sent(L, &r);
	if (idx < 0) {
		/* No node serves the slot: what a client library says. */
		finish(L, &r, "CLUSTERDOWN", 11);
		want_refresh(L);
		return;
	}
	n = L->nodes[idx];
	if (n->pending.count || n->free <= 0) {
		ring_push(&n->pending, &r, 0);
		return;
	}
	conn_push(L, node_pick(L, n, 1), r, 0);
}

/* A request of the mix: an op by its share, a key uniform over its key
 * space, and a draw for the field or member. With check_writes GET and SET
 * are the checked ones (generate() picks their keys). */
static void draw_mixed(struct load *L, struct req *r)
{
	double u = unit(rnd(L));
	int op = 0;

	while (op < HF_LOAD_NOPS - 1 && !(u < L->cum[op]))
		op++;
	if (L->o->check_writes && (op == HF_OP_GET || op == HF_OP_SET)) {
		r->kind = op == HF_OP_GET ? REQ_GET : REQ_SET;
		return;
	}
	r->kind = REQ_OP;
	r->op = (uint8_t)op;
	r->key = (long)((rnd(L) >> 11) % (uint64_t)L->space_keys[hf_load_opdefs[op].space]);
	r->arg = (uint32_t)(rnd(L) >> 32);
}

/* Draw new requests while the budget allows: the token bucket, the request
 * count, and clients x pipeline outstanding in all. Keys are uniform over
 * the key space. With check_writes a SET takes the next SEQ and a GET an
 * acknowledged one at random (a SET while there is none). */
static void generate(struct load *L)
{
	const struct hf_load_opts *o = L->o;
	long long window = (long long)o->clients * L->depth, draws = 0;

	while (draws++ < window) {
		struct req r = {0};

		if (o->requests && L->issued >= o->requests)
			return;
		if (o->rate && L->tokens < 1)
			return;
		if (L->issued - L->finished >= window)
			return;
		if (o->mix) {
			draw_mixed(L, &r);
		} else {
			r.key = (long)((rnd(L) >> 11) % (uint64_t)o->keys);
			r.kind = unit(rnd(L)) < o->read_ratio ? REQ_GET : REQ_SET;
		}
		if (o->check_writes && r.kind != REQ_OP) {
			uint64_t seq = 0;

			if (r.kind == REQ_GET && (!L->rep->acked_writes ||
						  !seq_acked_from(L, rnd(L) % L->nseq, &seq)))
				r.kind = REQ_SET;
			if (r.kind == REQ_SET)
				seq = seq_new(L);
			r.key = (long)seq;
		}
		r.t0 = L->now;
		L->issued++;
		if (o->rate)
			L->tokens -= 1;
		dispatch(L, r);
	}
}

/* The read-back and clean-up's counterpart of generate(): keys due for
 * another try first, then the next SEQ, while clients x depth are out. */
static void feed(struct load *L)
{
	long long window = (long long)L->o->clients * L->depth;

	while (L->issued - L->finished < window) {
		struct req r = {0};
		uint64_t seq;

		if (L->retry.count && ring_at(&L->retry, 0)->sent <= L->now) {
			r = ring_pop(&L->retry);
		} else if (seq_next(L, &seq)) {
			r.key = (long)seq;
			r.kind = L->phase == PH_VERIFY ? REQ_VGET : REQ_DEL;
			r.deadline = L->now + L->budget;
		} else {
			return;
		}
		r.t0 = L->now;
		L->issued++;
		dispatch(L, r);
	}
}

/* Close every connection and fail all that is outstanding as 'type'. */
static void fail_all(struct load *L, const char *type)
{
	size_t i;
	int j;

	for (i = 0; i < L->nnodes; i++)
		for (j = 0; j < L->nodes[i]->nconns; j++)
			conn_fail(L, &L->nodes[i]->conns[j], type);
	for (i = 0; i < L->nnodes; i++)
		while (L->nodes[i]->pending.count) {
			struct req r = ring_pop(&L->nodes[i]->pending);

			finish(L, &r, type, strlen(type));
		}
}

/* Each connection once: reopen dead ones that have something to do, fail
 * the ones whose oldest request (or connect) is older than the timeout,
 * write what is buffered. */
static void sweep(struct load *L, int generating)
{
	int64_t tmo = (int64_t)L->o->timeout_ms * 1000;
	size_t i;
	int j;

	for (i = 0; i < L->nnodes; i++) {
		struct node *n = L->nodes[i];

		for (j = 0; j < n->nconns; j++) {
			struct conn *k = &n->conns[j];

			if (k->state == CONN_DEAD) {
				if ((generating || k->q.count) && L->now >= k->retry_at)
					conn_open(L, k);
			} else if (k->state == CONN_CONNECTING) {
				if (L->now - k->since > tmo)
					conn_fail(L, k, "timeout");
			} else if (k->q.count && L->now - ring_at(&k->q, 0)->sent > tmo) {
				conn_fail(L, k, "timeout");
			}
		}
	}
}

static void flush(struct load *L)
{
	size_t i;
	int j;

	for (i = 0; i < L->nnodes; i++)
		for (j = 0; j < L->nodes[i]->nconns; j++) {
			struct conn *k = &L->nodes[i]->conns[j];

			if (k->state == CONN_UP && k->wpending)
				conn_write(L, k);
		}
}

static int poll_once(struct load *L, int timeout_ms)
{
	size_t i, n = 0, total = 0;
	int j, ready;

	for (i = 0; i < L->nnodes; i++)
		total += (size_t)L->nodes[i]->nconns;
	if (total > L->npfd_cap) {
		L->pfd = hf_xrealloc(L->pfd, total * sizeof(*L->pfd));
		L->pconn = hf_xrealloc(L->pconn, total * sizeof(*L->pconn));
		L->npfd_cap = total;
	}
	for (i = 0; i < L->nnodes; i++)
		for (j = 0; j < L->nodes[i]->nconns; j++) {
			struct conn *k = &L->nodes[i]->conns[j];

			if (!k->c)
				continue;
			L->pfd[n].fd = k->c->fd;
			L->pfd[n].events = POLLIN;
			if (k->state == CONN_CONNECTING || k->wpending)
				L->pfd[n].events |= POLLOUT;
			L->pfd[n].revents = 0;
			L->pconn[n++] = k;
		}
	ready = poll(L->pfd, (nfds_t)n, timeout_ms);
	L->now = now_us();
	if (ready <= 0)
		return ready < 0 && errno != EINTR ? -1 : 0;
	for (i = 0; i < n; i++) {
		struct conn *k = L->pconn[i];
		short ev = L->pfd[i].revents;

		if (!ev || !k->c)
			continue;
		if (k->state == CONN_CONNECTING) {
			conn_connected(L, k);
			if (k->state != CONN_UP)
				continue;
		}
		if (ev & (POLLIN | POLLERR | POLLHUP))
			conn_read(L, k);
		if (k->c && k->wpending && (ev & POLLOUT))
			conn_write(L, k);
	}
	return 0;
}

/* The shards are the nodes known when the slot map is first read: the
 * primaries, or the seed without cluster mode. */
static void shards_init(struct load *L)
{
	size_t i;
	int s;

	L->rep->nshards = L->nnodes;
	L->rep->shards = hf_xcalloc(L->nnodes, sizeof(*L->rep->shards));
	L->sh = hf_xcalloc(L->nnodes, sizeof(*L->sh));
	for (i = 0; i < L->nnodes; i++) {
		snprintf(L->rep->shards[i].primary, sizeof(L->rep->shards[i].primary), "%s:%d",
			 L->nodes[i]->host, L->nodes[i]->port);
		L->sh[i].busy_since = -1;
	}
	for (s = 0; s < NSLOTS; s++)
		L->shard_of[s] = (int16_t)L->slots[s];
}

/* Read the slot map from the seed before the loop starts, blocking: until
 * the seed answers there is nothing to run. */
static int discover(struct load *L, struct hf_err *err)
{
	const struct hf_uri *u = L->uri;
	const struct hf_load_opts *o = L->o;
	struct hf_err e = {0};
	struct hf_argv a = {0};
	struct hf_conn *c = NULL;
	redisReply *rr = NULL;
	int i, nprim, rc = 0;
	size_t n;

	for (i = 0; i < NSLOTS; i++)
		L->slots[i] = -1;
	if (hf_conn_open(u, u->host, u->port, o->timeout_ms, &c, &e)) {
		/* Unreachable or refused, the run cannot start: exit 1 either way. */
		if (e.code == HF_EUNREACH)
			return hf_err_set(err, HF_ERR, "cannot reach the cluster: %s", e.msg);
		return hf_err_set(err, HF_ERR, "%s", e.msg);
	}
	hf_argv_push(&a, "CLUSTER");
	hf_argv_push(&a, "SLOTS");
	rc = hf_conn_command(c, &a, o->timeout_ms, &rr);
	hf_argv_release(&a);
	if (rc) {
		rc = hf_err_set(err, HF_ERR, "cannot reach the cluster: %s did not answer: %s",
				hf_conn_addr(c), hf_conn_error(c));
		goto out;
	}
	if (rr->type == REDIS_REPLY_ERROR) {
		if (!strstr(rr->str, "cluster support disabled")) {
			rc = hf_err_set(err, HF_ERR, "cannot read the slot map from %s:%d: %s",
					u->host, u->port, rr->str);
			goto out;
		}
		L->cluster_mode = 0;
		node_get(L, u->host, strlen(u->host), u->port, o->clients);
		for (i = 0; i < NSLOTS; i++)
			L->slots[i] = 0;
		L->per_node = o->clients;
		L->rep->primaries = 1;
		goto out;
	}
	L->cluster_mode = 1;
	/* Count the primaries first, to share the connections among them. */
	if (apply_slots(L, rr, u->host, 1) <= 0) {
		rc = hf_err_set(err, HF_ERR, "cannot use %s:%d: the cluster has no slots assigned",
				u->host, u->port);
		goto out;
	}
	nprim = (int)L->nnodes;
	L->rep->primaries = nprim;
	for (n = 0; n < L->nnodes; n++) {
		struct node *nd = L->nodes[n];
		int share = o->clients / nprim + ((int)n < o->clients % nprim);

		if (share < 1)
			share = 1;
		free(nd->conns);
		nd->nconns = share;
		nd->conns = hf_xcalloc((size_t)share, sizeof(*nd->conns));
		for (i = 0; i < share; i++)
			nd->conns[i].node = nd;
		nd->free = (long)share * L->depth;
	}
	L->per_node = o->clients / nprim > 0 ? o->clients / nprim : 1;
out:
	if (!rc)
		shards_init(L);
	if (rr)
		freeReplyObject(rr);
	hf_conn_close(c);
	return rc;
}

void hf_load_opts_init(struct hf_load_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->seconds = 10;
	o->clients = 50;
	o->pipeline = 1;
	o->keys = 10000;
	o->value_size = 64;
	o->read_ratio = 0.5;
	o->timeout_ms = 2000;
}

int hf_load_opts_check(const struct hf_load_opts *o, struct hf_err *err)
{
	if (o->rate < 0)
		return hf_err_set(err, HF_EINVAL, "load: '--rate' must not be negative");
	if (!(o->seconds >= 0) || o->seconds > HF_LOAD_MAX_SECONDS)
		return hf_err_set(err, HF_EINVAL, "load: '--seconds' must be between 0 and %d",
				  HF_LOAD_MAX_SECONDS);
	if (o->requests < 0)
		return hf_err_set(err, HF_EINVAL, "load: '--requests' must not be negative");
	if (o->seconds == 0 && o->requests == 0)
		return hf_err_set(err, HF_EINVAL, "load: '--seconds 0' needs '--requests N'");
	if (o->clients < 1 || o->clients > 10000)
		return hf_err_set(err, HF_EINVAL, "load: '--clients' must be between 1 and 10000");
	if (o->pipeline < 1 || o->pipeline > 10000)
		return hf_err_set(err, HF_EINVAL, "load: '--pipeline' must be between 1 and 10000");
	if (o->keys < 1 || o->keys > 1000000000L)
		return hf_err_set(err, HF_EINVAL, "load: '--keys' must be between 1 and 1000000000");
	if (o->value_size < 0 || o->value_size > 16 * 1024 * 1024)
		return hf_err_set(err, HF_EINVAL, "load: '--value-size' must be between 0 and 16777216");
	if (!(o->read_ratio >= 0 && o->read_ratio <= 1))
		return hf_err_set(err, HF_EINVAL, "load: '--read-ratio' must be between 0 and 1");
	if (o->timeout_ms < 1)
		return hf_err_set(err, HF_EINVAL, "load: the request timeout must be positive");
	if (o->check_writes && !o->mix && o->read_ratio >= 1)
		return hf_err_set(err, HF_EINVAL, "load: '--check-writes' needs writes: "
				  "'--read-ratio' must be below 1");
	if (o->check_pause_ms < 0 || o->check_pause_ms > HF_LOAD_MAX_SECONDS * 1000L)
		return hf_err_set(err, HF_EINVAL, "load: '--check-pause-ms' must be between 0 and %ld",
				  HF_LOAD_MAX_SECONDS * 1000L);
	if (o->check_pause_ms && !o->check_writes)
		return hf_err_set(err, HF_EINVAL, "load: '--check-pause-ms' needs '--check-writes'");
	return 0;
}

void hf_load_report_release(struct hf_load_report *r)
{
	free(r->shards);
	r->shards = NULL;
	r->nshards = 0;
}

static int stopping(const struct load *L)
{
	return stop_all || (L->o->stop && *L->o->stop);
}

/* Give every connection a pipeline depth of 'depth', between phases (nothing
 * in flight). */
static void set_depth(struct load *L, int depth)
{
	size_t i;

	for (i = 0; i < L->nnodes; i++)
		L->nodes[i]->free += (long)L->nodes[i]->nconns * (depth - L->depth);
	L->depth = depth;
}

/* The traffic, from 'start': generate until the time or the request count is
 * up, or a stop; then wait for every answer, until one timeout (plus a
 * second) after generation stopped, when what is left counts as timeouts. */
static void traffic(struct load *L, int64_t start)
{
	const struct hf_load_opts *o = L->o;
	int64_t gen_end, hard_end;

	gen_end = start + (int64_t)((o->seconds > 0 ? o->seconds : HF_LOAD_MAX_SECONDS) * 1e6);
	hard_end = gen_end + (int64_t)o->timeout_ms * 1000 + 1000000;
	L->tok_last = start;
	L->last_refresh = start - REFRESH_US;

	for (;;) {
		int generating = !stopping(L) && L->now < gen_end &&
				 !(o->requests && L->issued >= o->requests);
		int wait = POLL_MAX_MS;

		if (stopping(L))
			L->rep->stopped = 1;
		if (!generating && L->finished == L->issued)
			break;
		if (L->now >= hard_end) {
			fail_all(L, "timeout");
			break;
		}
		sweep(L, generating);
		refresh_send(L);
		drain_pending(L);
		if (generating) {
			if (o->rate) {
				L->tokens += (double)(L->now - L->tok_last) * (double)o->rate / 1e6;
				L->tok_last = L->now;
				if (L->tokens > L->burst)
					L->tokens = L->burst;
			}
			generate(L);
			if (o->rate && L->tokens < 1) {
				int64_t us = (int64_t)((1 - L->tokens) * 1e6 / (double)o->rate);

				wait = (int)(us / 1000) + 1;
				if (wait > POLL_MAX_MS)
					wait = POLL_MAX_MS;
			}
		}
		flush(L);
		if (poll_once(L, wait) < 0) {
			/* poll() itself failing is not something a retry fixes. */
			fail_all(L, "conn");
			break;
		}
	}
}

/* The read-back (PH_VERIFY) of every acknowledged key, or the clean-up
 * (PH_DELETE) of every key drawn, through the same connections and routing
 * as the traffic. Keys that meet a transient error are tried again (see
 * check_finish()); when no key got an answer for the whole budget, the
 * phase gives up on all that is left. A stop does not end it. */
static void check_phase(struct load *L, enum phase phase)
{
	L->phase = phase;
	L->cursor = 0;
	L->issued = L->finished = 0;
	L->now = now_us();
	L->last_progress = L->now;
	for (;;) {
		if (L->cursor >= L->nseq && !L->retry.count && L->issued == L->finished)
			break;
		if (L->now - L->last_progress > L->budget) {
			fail_all(L, "gave up");
			break;
		}
		sweep(L, 1);
		refresh_send(L);
		drain_pending(L);
		feed(L);
		flush(L);
		if (poll_once(L, POLL_MAX_MS) < 0) {
			fail_all(L, "poll");
			break;
		}
	}
	L->retry.count = 0;
	L->retry.head = 0;
}

/* --check-pause-ms: nothing is sent for that long, or until a stop. */
static void check_pause(struct load *L)
{
	int64_t end = now_us() + (int64_t)L->o->check_pause_ms * 1000;

	while (!stopping(L) && now_us() < end)
		poll(NULL, 0, POLL_MAX_MS);
}

/* The largest value or member a mix asks for: its distributions' largest,
 * at most MAX_FILL, at least --value-size. */
static size_t mix_fill_max(const struct hf_load_mix *m, long value_size)
{
	double top = (double)value_size;
	int f;

	for (f = 0; f < HF_LOAD_NFAMS; f++) {
		const struct hf_load_dist *d[2] = { &m->length[f], &m->element_size[f] };
		int i;

		for (i = 0; i < 2; i++)
			if ((f == HF_FAM_STRING || i == 1) && d[i]->n > 0 && d[i]->v[d[i]->n - 1] > top)
				top = d[i]->v[d[i]->n - 1];
	}
	return top > MAX_FILL ? MAX_FILL : (size_t)top + 1;
}

/* With a mix: the cumulative shares of its ops (the last drawn one up to 2,
 * past any rounding), the keys of each key space ('keys' times the type's
 * share of the sampled keys, when known; the counters as many as the
 * strings) and the filler of values and members. */
static void prepare_mix(struct load *L)
{
	const struct hf_load_mix *m = L->o->mix;
	double share[HF_LOAD_NOPS], sum = 0;
	int i, last = 0;
	size_t j;

	hf_load_mix_effective(m, L->o->check_writes, share);
	for (i = 0; i < HF_LOAD_NOPS; i++) {
		sum += share[i];
		L->cum[i] = sum;
		if (share[i] > 0)
			last = i;
	}
	for (i = last; i < HF_LOAD_NOPS; i++)
		L->cum[i] = 2;
	for (i = 0; i < HF_LOAD_NSPACES; i++) {
		int fam = i == HF_LOAD_COUNTERS ? HF_FAM_STRING : i;
		double n = m->type_share[fam] > 0 ? (double)L->o->keys * m->type_share[fam] : (double)L->o->keys;

		L->space_keys[i] = n < 1 ? 1 : (long)n;
	}
	L->fill_max = mix_fill_max(m, L->o->value_size);
	L->fill = hf_xmalloc(L->fill_max + 1);
	for (j = 0; j < L->fill_max; j++)
		L->fill[j] = (char)('a' + j % 26);
}

/* What the traffic needs once the cluster is known: the tail of every SET
 * (the value, with its RESP length header), room for the largest command,
 * the random generator, the token bucket's burst, the checks' budget and,
 * with check_writes, the run's id in the check keys. */
static void prepare_traffic(struct load *L)
{
	const struct hf_load_opts *o = L->o;
	long i;

	L->value_tail = hf_xmalloc((size_t)o->value_size + 32);
	L->value_tail_len = (size_t)sprintf(L->value_tail, "$%ld\r\n", o->value_size);
	L->filler = L->value_tail + L->value_tail_len;
	for (i = 0; i < o->value_size; i++)
		L->value_tail[L->value_tail_len++] = (char)('a' + i % 26);
	memcpy(L->value_tail + L->value_tail_len, "\r\n", 2);
	L->value_tail_len += 2;
	if (o->mix)
		prepare_mix(L);
	/* Room for the largest command: a SET with a check value, whose
	 * length header and digits the load values do not have, or a mix's
	 * command with its key, a value and a member. */
	L->cmd = hf_xmalloc(L->value_tail_len + 2 * L->fill_max + KEY_MAX + 256);
	L->rng = o->seed ? o->seed : (uint64_t)now_us() * 0x9E3779B97F4A7C15ULL;
	if (!L->rng)
		L->rng = 1;
	L->burst = o->rate / 100.0 > 1 ? o->rate / 100.0 : 1;
	L->budget = (int64_t)HF_LOAD_CHECK_TIMEOUTS * o->timeout_ms * 1000;
	if (o->check_writes)
		make_run_id(L);
}

/* The traffic's numbers in the report, once it ended: its duration from
 * 'start', throughput, latencies and each shard's longest outage. */
static void report_traffic(struct load *L, int64_t start)
{
	struct hf_load_report *rep = L->rep;
	size_t s;

	rep->cluster_mode = L->cluster_mode;
	rep->seconds = (double)(L->now - start) / 1e6;
	rep->throughput = rep->seconds > 0 ? (double)rep->ok / rep->seconds : 0;
	rep->p50_ms = latency_ms(&L->hist, 50);
	rep->p90_ms = latency_ms(&L->hist, 90);
	rep->p99_ms = latency_ms(&L->hist, 99);
	rep->p999_ms = latency_ms(&L->hist, 99.9);
	rep->max_ms = (double)hf_hist_max(&L->hist) / 1000.0;   /* exact; 0 when empty */
	rep->mean_ms = hf_hist_count(&L->hist) ? hf_hist_mean(&L->hist) / 1000.0 : 0;
	for (s = 0; s < rep->nshards; s++) {
		struct shard_state *st = &L->sh[s];

		/* A failure that no success followed lasts to the end. */
		if (st->busy_since >= 0 && L->now - st->busy_since > st->window)
			st->window = L->now - st->busy_since;
		rep->shards[s].window_ms = (double)st->window / 1000.0;
		if (rep->shards[s].window_ms > rep->unavailable_ms)
			rep->unavailable_ms = rep->shards[s].window_ms;
	}
}

int hf_load_run(const struct hf_uri *uri, const struct hf_load_opts *o,
		struct hf_load_report *report, struct hf_err *err)
{
	struct hf_load_report rep = {0};
	struct load *L;
	int64_t start;
	int rc;

	rc = hf_load_opts_check(o, err);
	if (rc)
		return rc;
	/* Its connections are hiredis' own non-blocking contexts, which
	 * hiredis 0.14 cannot put TLS on. */
	if (uri->tls)
		return hf_err_set(err, HF_EINVAL, "hotfix load does not support TLS (rediss://) yet: "
				  "use redis:// on a plain port");
	stop_all = 0;
	L = hf_xcalloc(1, sizeof(*L));
	hf_hist_init(&L->hist);
	L->uri = uri;
	L->o = o;
	L->rep = &rep;
	L->phase = PH_LOAD;
	L->depth = o->pipeline;
	rc = discover(L, err);
	if (rc)
		goto out;
	prepare_traffic(L);

	start = L->now = now_us();
	traffic(L, start);
	report_traffic(L, start);

	if (o->check_writes) {
		rep.check_writes = 1;
		check_pause(L);
		set_depth(L, o->pipeline > CHECK_DEPTH ? o->pipeline : CHECK_DEPTH);
		check_phase(L, PH_VERIFY);
		rep.unverifiable = rep.acked_writes - rep.verified - rep.lost;
		check_phase(L, PH_DELETE);
	}
	*report = rep;
out:
	if (rc)
		hf_load_report_release(&rep);
	nodes_free(L);
	free(L->value_tail);
	free(L->fill);
	free(L->cmd);
	free(L->pfd);
	free(L->pconn);
	free(L->sh);
	free(L->acked);
	free(L->retry.v);
	free(L);
	return rc;
}
