/* The load generator's command mix: the ops a workload profile is replayed
 * with, the folding of a profile's other commands into them, size draws
 * and each op's command in RESP. No connection, no printing: load.c sends
 * what is formatted here, src/cmd/load.c prints the folds. */
#include "engine/redis/loadmix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

const struct hf_load_opdef hf_load_opdefs[HF_LOAD_NOPS] = {
	[HF_OP_GET] = { "get", HF_FAM_STRING, 0, HF_SH_K },
	[HF_OP_SET] = { "set", HF_FAM_STRING, 1, HF_SH_KV },
	[HF_OP_SETEX] = { "setex", HF_FAM_STRING, 1, HF_SH_KTV },
	[HF_OP_INCR] = { "incr", HF_LOAD_COUNTERS, 1, HF_SH_K },
	[HF_OP_DEL] = { "del", HF_FAM_STRING, 1, HF_SH_K },
	[HF_OP_EXISTS] = { "exists", HF_FAM_STRING, 0, HF_SH_K },
	[HF_OP_EXPIRE] = { "expire", HF_FAM_STRING, 1, HF_SH_KT },
	[HF_OP_TTL] = { "ttl", HF_FAM_STRING, 0, HF_SH_K },
	[HF_OP_HGET] = { "hget", HF_FAM_HASH, 0, HF_SH_KF },
	[HF_OP_HSET] = { "hset", HF_FAM_HASH, 1, HF_SH_KFV },
	[HF_OP_HGETALL] = { "hgetall", HF_FAM_HASH, 0, HF_SH_K },
	[HF_OP_HINCRBY] = { "hincrby", HF_FAM_HASH, 1, HF_SH_KFN },
	[HF_OP_HDEL] = { "hdel", HF_FAM_HASH, 1, HF_SH_KF },
	[HF_OP_HLEN] = { "hlen", HF_FAM_HASH, 0, HF_SH_K },
	[HF_OP_LPUSH] = { "lpush", HF_FAM_LIST, 1, HF_SH_KV },
	[HF_OP_RPUSH] = { "rpush", HF_FAM_LIST, 1, HF_SH_KV },
	[HF_OP_LPOP] = { "lpop", HF_FAM_LIST, 1, HF_SH_K },
	[HF_OP_RPOP] = { "rpop", HF_FAM_LIST, 1, HF_SH_K },
	[HF_OP_LRANGE] = { "lrange", HF_FAM_LIST, 0, HF_SH_KR },
	[HF_OP_LLEN] = { "llen", HF_FAM_LIST, 0, HF_SH_K },
	[HF_OP_SADD] = { "sadd", HF_FAM_SET, 1, HF_SH_KM },
	[HF_OP_SREM] = { "srem", HF_FAM_SET, 1, HF_SH_KM },
	[HF_OP_SMEMBERS] = { "smembers", HF_FAM_SET, 0, HF_SH_K },
	[HF_OP_SISMEMBER] = { "sismember", HF_FAM_SET, 0, HF_SH_KM },
	[HF_OP_SCARD] = { "scard", HF_FAM_SET, 0, HF_SH_K },
	[HF_OP_ZADD] = { "zadd", HF_FAM_ZSET, 1, HF_SH_KSM },
	[HF_OP_ZREM] = { "zrem", HF_FAM_ZSET, 1, HF_SH_KM },
	[HF_OP_ZRANGE] = { "zrange", HF_FAM_ZSET, 0, HF_SH_KR },
	[HF_OP_ZSCORE] = { "zscore", HF_FAM_ZSET, 0, HF_SH_KM },
	[HF_OP_ZINCRBY] = { "zincrby", HF_FAM_ZSET, 1, HF_SH_KNM },
	[HF_OP_ZCARD] = { "zcard", HF_FAM_ZSET, 0, HF_SH_K },
};

const char *const hf_load_space_tags[HF_LOAD_NSPACES] = { "", "h:", "l:", "s:", "z:", "n:" };

const char *hf_load_op_name(int op)
{
	return op >= 0 && op < HF_LOAD_NOPS ? hf_load_opdefs[op].name : NULL;
}

/* ---- folding ------------------------------------------------------------ */

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The key type a command of the profile works on, by its name: Redis
 * names commands by their type's letter (h, l, s, z), with exceptions. */
static int family_of(const char *name)
{
	static const char *const strings[] = { "set", "strlen", "substr", "sort", "spublish",
					       "ssubscribe", "sunsubscribe", "lcs", NULL };
	size_t i;

	for (i = 0; strings[i]; i++)
		if (starts(name, strings[i]))
			return HF_FAM_STRING;
	if (name[0] == 'h')
		return HF_FAM_HASH;
	if (name[0] == 'l' || starts(name, "rpop") || starts(name, "rpush") || starts(name, "blpop") ||
	    starts(name, "brpop") || starts(name, "blm"))
		return HF_FAM_LIST;
	if (name[0] == 's')
		return HF_FAM_SET;
	if (name[0] == 'z' || starts(name, "bz") || starts(name, "geo"))
		return HF_FAM_ZSET;
	return HF_FAM_STRING;
}

/* The op a command of family 'fam' and kind 'kind' folds into; -1: split
 * between GET and SET (an unknown kind). */
static int fold_target(const char *name, int fam, const char *kind)
{
	static const int reads[HF_LOAD_NFAMS] = { HF_OP_GET, HF_OP_HGET, HF_OP_LRANGE,
						  HF_OP_SISMEMBER, HF_OP_ZRANGE };
	static const int writes[HF_LOAD_NFAMS] = { HF_OP_SET, HF_OP_HSET, HF_OP_RPUSH,
						   HF_OP_SADD, HF_OP_ZADD };
	static const int removals[HF_LOAD_NFAMS] = { HF_OP_DEL, HF_OP_HDEL, HF_OP_LPOP,
						     HF_OP_SREM, HF_OP_ZREM };

	if (!strcmp(kind, "read"))
		return reads[fam];
	if (strcmp(kind, "write"))
		return -1;
	if (!strcmp(name, "unlink"))
		return HF_OP_DEL;
	if (strstr(name, "expire") || !strcmp(name, "persist"))
		return HF_OP_EXPIRE;
	if (strstr(name, "pop") || strstr(name, "rem") || strstr(name, "trim") ||
	    strstr(name, "del"))
		return removals[fam];
	if (fam == HF_FAM_STRING && (strstr(name, "incr") || strstr(name, "decr")))
		return HF_OP_INCR;
	if (fam == HF_FAM_HASH && strstr(name, "incr"))
		return HF_OP_HINCRBY;
	return writes[fam];
}

static void note_fold(struct hf_load_mix *m, const char *from, const char *to, double share)
{
	struct hf_load_fold *f;

	m->folded = hf_xrealloc(m->folded, (m->nfolded + 1) * sizeof(*m->folded));
	f = &m->folded[m->nfolded++];
	snprintf(f->from, sizeof(f->from), "%s", from);
	snprintf(f->to, sizeof(f->to), "%s", to);
	f->share = share;
}

void hf_load_mix_add(struct hf_load_mix *m, const char *name, const char *kind, double share,
		     double read_share)
{
	int op, fam;

	if (!(share > 0))
		return;
	for (op = 0; op < HF_LOAD_NOPS; op++)
		if (!strcmp(name, hf_load_opdefs[op].name)) {
			m->share[op] += share;
			return;
		}
	fam = family_of(name);
	op = fold_target(name, fam, kind ? kind : "");
	if (op >= 0) {
		m->share[op] += share;
		note_fold(m, name, hf_load_opdefs[op].name, share);
		return;
	}
	m->share[HF_OP_GET] += share * read_share;
	m->share[HF_OP_SET] += share * (1 - read_share);
	note_fold(m, name, "get/set", share);
}

int hf_load_mix_effective(const struct hf_load_mix *m, int check_writes, double share[HF_LOAD_NOPS])
{
	double total = 0, scale;
	int i;

	for (i = 0; i < HF_LOAD_NOPS; i++)
		total += m->share[i] > 0 ? m->share[i] : 0;
	if (!(total > 0))
		return 0;
	for (i = 0; i < HF_LOAD_NOPS; i++)
		share[i] = m->share[i] > 0 ? m->share[i] / total : 0;
	if (!check_writes || share[HF_OP_SET] >= HF_LOAD_CHECK_SHARE)
		return 1;
	scale = (1 - HF_LOAD_CHECK_SHARE) / (1 - share[HF_OP_SET]);
	for (i = 0; i < HF_LOAD_NOPS; i++)
		share[i] *= scale;
	share[HF_OP_SET] = HF_LOAD_CHECK_SHARE;
	return 1;
}

void hf_load_mix_release(struct hf_load_mix *m)
{
	free(m->folded);
	memset(m, 0, sizeof(*m));
}

/* ---- sizes -------------------------------------------------------------- */

double hf_load_dist_at(const struct hf_load_dist *d, double u, double dflt)
{
	int i;

	if (d->n <= 0)
		return dflt;
	if (u <= d->q[0] || d->n == 1)
		return d->v[0];
	for (i = 1; i < d->n; i++)
		if (u <= d->q[i]) {
			double span = d->q[i] - d->q[i - 1];

			return span > 0 ? d->v[i - 1] + (d->v[i] - d->v[i - 1]) * (u - d->q[i - 1]) / span
					: d->v[i];
		}
	return d->v[d->n - 1];
}

/* ---- RESP ---------------------------------------------------------------- */

static size_t put_arg(char *b, const char *s, size_t len)
{
	size_t n = (size_t)sprintf(b, "$%zu\r\n", len);

	memcpy(b + n, s, len);
	n += len;
	memcpy(b + n, "\r\n", 2);
	return n + 2;
}

/* "<tag><idx>" padded with the filler up to 'vlen' bytes: a field or
 * member that the same 'idx' always names the same. */
static size_t put_member(char *b, char tag, const struct hf_load_oparg *a)
{
	char d[32];
	int nd = snprintf(d, sizeof(d), "%c%lu", tag, a->idx);
	size_t len = a->vlen > (size_t)nd ? a->vlen : (size_t)nd, n;

	n = (size_t)sprintf(b, "$%zu\r\n%s", len, d);
	memcpy(b + n, a->filler, len - (size_t)nd);
	n += len - (size_t)nd;
	memcpy(b + n, "\r\n", 2);
	return n + 2;
}

static size_t put_num(char *b, unsigned long v)
{
	char d[24];
	int nd = snprintf(d, sizeof(d), "%lu", v);

	return put_arg(b, d, (size_t)nd);
}

static const int shape_args[] = {
	[HF_SH_K] = 2, [HF_SH_KV] = 3, [HF_SH_KTV] = 4, [HF_SH_KT] = 3, [HF_SH_KF] = 3,
	[HF_SH_KFV] = 4, [HF_SH_KFN] = 4, [HF_SH_KM] = 3, [HF_SH_KSM] = 4, [HF_SH_KNM] = 4,
	[HF_SH_KR] = 4,
};

/* The arguments after the key. A field of HINCRBY is "n", which HSET never
 * writes (its fields are "f<idx>"), so the counter always holds a number. */
static size_t put_rest(char *b, int shape, const struct hf_load_oparg *a)
{
	size_t n = 0;

	switch (shape) {
	case HF_SH_KV:
		return put_arg(b, a->filler, a->vlen);
	case HF_SH_KTV:
		n = put_arg(b, "3600", 4);
		return n + put_arg(b + n, a->filler, a->vlen);
	case HF_SH_KT:
		return put_arg(b, "3600", 4);
	case HF_SH_KF: {
		struct hf_load_oparg f = *a;

		f.vlen = 0;
		return put_member(b, 'f', &f);
	}
	case HF_SH_KFV: {
		struct hf_load_oparg f = *a;

		f.vlen = 0;
		n = put_member(b, 'f', &f);
		return n + put_arg(b + n, a->filler, a->vlen);
	}
	case HF_SH_KFN:
		n = put_arg(b, "n", 1);
		return n + put_arg(b + n, "1", 1);
	case HF_SH_KM:
		return put_member(b, 'm', a);
	case HF_SH_KSM:
		n = put_num(b, a->idx);
		return n + put_member(b + n, 'm', a);
	case HF_SH_KNM:
		n = put_arg(b, "1", 1);
		return n + put_member(b + n, 'm', a);
	case HF_SH_KR:
		n = put_arg(b, "0", 1);
		return n + put_num(b + n, a->count > 0 ? a->count - 1 : 0);
	}
	return 0;
}

size_t hf_load_op_format(char *b, int op, const struct hf_load_oparg *a)
{
	const struct hf_load_opdef *d = &hf_load_opdefs[op];
	char upper[16];
	size_t n, i;

	for (i = 0; d->name[i] && i < sizeof(upper) - 1; i++)
		upper[i] = (char)(d->name[i] - 'a' + 'A');
	n = (size_t)sprintf(b, "*%d\r\n", shape_args[d->shape]);
	n += put_arg(b + n, upper, i);
	n += put_arg(b + n, a->key, a->klen);
	return n + put_rest(b + n, d->shape, a);
}
