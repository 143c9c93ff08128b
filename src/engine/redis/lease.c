/* The cluster's lease and the audit witness (lease.h): small scripts on
 * the primary of the {hotfix} slot, over the flag store's connection. */
#include "engine/redis/lease.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/redis/flags_lua.h"
#include "engine/redis/flagstore.h"
#include "engine/redis/internal.h"
#include "util/buf.h"
#include "util/misc.h"

struct hf_lease {
	struct hf_flagstore *s;
	char holder[256];
	long long token;           /* 0: not held */
	long long ttl_ms;
	long long renewed_ms;      /* monotonic, at the last successful renewal */
	long long valid_until;     /* monotonic: ours by our own clock until then */
};

int hf_lease_open(const struct hf_uri *uri, long timeout_ms, struct hf_lease **out,
		  struct hf_err *err)
{
	struct hf_lease *l = hf_xcalloc(1, sizeof(*l));
	const char *ttl = getenv("HOTFIX_LEASE_TTL_MS");
	struct hf_err why = {0};
	char host[128] = "";
	int rc;

	rc = hf_flagstore_open(uri, timeout_ms, &l->s, &why);
	if (rc) {
		free(l);
		return hf_err_set(err, rc, "lease: %s", why.msg);
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(l->holder, sizeof(l->holder), "%s@%s pid %d", hf_operator(), host, (int)getpid());
	/* The time to live can be shortened for tests. */
	l->ttl_ms = ttl && atol(ttl) > 0 ? atol(ttl) : HF_LEASE_TTL_MS;
	*out = l;
	return 0;
}

void hf_lease_close(struct hf_lease *l)
{
	if (!l)
		return;
	hf_flagstore_close(l->s);
	free(l);
}

long long hf_lease_token(const struct hf_lease *l)
{
	return l ? l->token : 0;
}

const char *hf_lease_holder(const struct hf_lease *l)
{
	return l->holder;
}

static long long ll_of(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static void str_of(const redisReply *r, char *out, size_t len)
{
	snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
}

/* A script's {0, holder, run, token, pttl, since} into 'o'. */
static void other_of(const redisReply *r, struct hf_lease_info *o)
{
	memset(o, 0, sizeof(*o));
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 6)
		return;
	str_of(r->element[1], o->holder, sizeof(o->holder));
	str_of(r->element[2], o->run, sizeof(o->run));
	o->token = ll_of(r->element[3]);
	o->ttl_ms = ll_of(r->element[4]);
	o->since_ms = ll_of(r->element[5]);
	o->held = o->holder[0] != '\0';
}

/* EVAL 'script' on KEYS lease and counter with 'argv' after them; '*ok'
 * gets the reply's first number, 'other' the rest when it is 0. */
static int eval(struct hf_lease *l, const char *script, size_t len, const char *const *args,
		int nargs, int *ok, struct hf_lease_info *other, struct hf_err *err)
{
	struct hf_argv a = {0};
	struct hf_err why = {0};
	redisReply *r = NULL;
	int i, rc;

	hf_argv_pushb(&a, "EVAL", 4);
	hf_argv_pushb(&a, script, len);
	hf_argv_push(&a, "2");
	hf_argv_push(&a, HF_LEASE_KEY);
	hf_argv_push(&a, HF_LEASE_TOKEN_KEY);
	for (i = 0; i < nargs; i++)
		hf_argv_push(&a, args[i]);
	rc = hf_flagstore_call(l->s, &a, &r, &why);
	hf_argv_release(&a);
	if (rc)
		return hf_err_set(err, rc, "lease: %s", why.msg);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
		freeReplyObject(r);
		return hf_err_set(err, HF_ERR, "lease: unexpected reply from %s",
				  hf_flagstore_addr(l->s));
	}
	*ok = (int)ll_of(r->element[0]);
	if (*ok)
		l->token = ll_of(r->element[1]);
	else if (other)
		other_of(r, other);
	freeReplyObject(r);
	return 0;
}

/* Is 'holder' ("user@host pid N") a process of this host that is gone? */
static int dead_here(const char *holder)
{
	char host[128] = "", *at = strchr(holder, '@'), *sp;
	size_t hl;
	long pid;

	gethostname(host, sizeof(host) - 1);
	hl = strlen(host);
	if (!at || strncmp(at + 1, host, hl) || strncmp(at + 1 + hl, " pid ", 5))
		return 0;
	pid = strtol(at + 1 + hl + 5, &sp, 10);
	return pid > 0 && !*sp && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int hf_lease_acquire(struct hf_lease *l, const char *run, struct hf_lease_info *other,
		     struct hf_err *err)
{
	char ttl[32];
	const char *args[4] = { l->holder, run ? run : "", ttl, "" };
	struct hf_lease_info o;
	int ok = 0, rc;

	snprintf(ttl, sizeof(ttl), "%lld", l->ttl_ms);
	l->valid_until = hf_mono_ms() + l->ttl_ms;
	rc = eval(l, hf_flags_lua_lease_acquire, hf_flags_lua_lease_acquire_len, args, 4, &ok,
		  &o, err);
	/* The driver of this very run, killed on this host (its journal lock
	 * is ours now): its lease is taken over rather than waited out. So is
	 * the lease of a dead apply that had not named its run yet (killed
	 * between journaling the run and renewing the lease with its id): it
	 * may be this run's driver, and it changed nothing, since the lease
	 * names the run before the first audit record and the first change. */
	if (!rc && !ok && run && *run && (!strcmp(o.run, run) || !o.run[0]) &&
	    dead_here(o.holder)) {
		args[3] = o.holder;
		rc = eval(l, hf_flags_lua_lease_acquire, hf_flags_lua_lease_acquire_len, args, 4,
			  &ok, &o, err);
	}
	if (rc)
		return rc;
	if (!ok) {
		if (other)
			*other = o;
		return hf_err_set(err, HF_EREFUSED, "the lease is held by %s (run %s)", o.holder,
				  o.run[0] ? o.run : "not created yet");
	}
	l->renewed_ms = hf_mono_ms();
	return 0;
}

int hf_lease_renew(struct hf_lease *l, const char *run, struct hf_lease_info *other,
		   struct hf_err *err)
{
	char ttl[32], tok[32];
	const char *args[4] = { tok, ttl, run ? run : "", l->holder };
	struct hf_lease_info o;
	long long t0;
	int ok = 0, rc;

	if (!l->token)
		return hf_err_set(err, HF_EREFUSED, "the lease was never taken");
	snprintf(ttl, sizeof(ttl), "%lld", l->ttl_ms);
	snprintf(tok, sizeof(tok), "%lld", l->token);
	t0 = hf_mono_ms();
	rc = eval(l, hf_flags_lua_lease_renew, hf_flags_lua_lease_renew_len, args, 4, &ok, &o, err);
	/* Its node does not answer: nobody can take the lease from it either
	 * (a replica promoted meanwhile has it with the same expiry), so it
	 * is ours while our own clock says so, less a third for safety. */
	if (rc && hf_mono_ms() < l->valid_until - l->ttl_ms / 3)
		return 0;
	if (rc)
		return rc;
	if (!ok) {
		if (other)
			*other = o;
		return hf_err_set(err, HF_EREFUSED, "lease lost to %s (run %s, token %lld; ours was %lld)",
				  o.held ? o.holder : "nobody (it expired)", o.run[0] ? o.run : "-",
				  o.token, l->token);
	}
	l->renewed_ms = hf_mono_ms();
	l->valid_until = t0 + l->ttl_ms;
	return 0;
}

int hf_lease_tick(struct hf_lease *l, struct hf_lease_info *other, struct hf_err *err)
{
	if (hf_mono_ms() - l->renewed_ms < l->ttl_ms / 3)
		return 0;
	return hf_lease_renew(l, NULL, other, err);
}

int hf_lease_release(struct hf_lease *l, struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r = NULL;
	int rc;

	if (!l || !l->token)
		return 0;
	hf_argv_pushb(&a, "EVAL", 4);
	hf_argv_pushb(&a, hf_flags_lua_lease_release, hf_flags_lua_lease_release_len);
	hf_argv_push(&a, "1");
	hf_argv_push(&a, HF_LEASE_KEY);
	hf_argv_pushf(&a, "%lld", l->token);
	rc = hf_flagstore_call(l->s, &a, &r, err);
	hf_argv_release(&a);
	if (!rc)
		freeReplyObject(r);
	l->token = 0;
	return rc;
}

int hf_lease_show(struct hf_lease *l, struct hf_lease_info *out, struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r = NULL, *t = NULL;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	hf_argv_push(&a, "HGETALL");
	hf_argv_push(&a, HF_LEASE_KEY);
	rc = hf_flagstore_call(l->s, &a, &r, err);
	hf_argv_release(&a);
	if (rc)
		return rc;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const char *k = r->element[i]->str;
		const redisReply *v = r->element[i + 1];

		if (!strcmp(k, "holder"))
			str_of(v, out->holder, sizeof(out->holder));
		else if (!strcmp(k, "run"))
			str_of(v, out->run, sizeof(out->run));
		else if (!strcmp(k, "token"))
			out->token = ll_of(v);
		else if (!strcmp(k, "since_ms"))
			out->since_ms = ll_of(v);
	}
	out->held = out->holder[0] != '\0';
	freeReplyObject(r);
	hf_argv_push(&a, "PTTL");
	hf_argv_push(&a, HF_LEASE_KEY);
	if (out->held && !hf_flagstore_call(l->s, &a, &t, NULL)) {
		out->ttl_ms = ll_of(t);
		freeReplyObject(t);
	}
	hf_argv_release(&a);
	return 0;
}

int hf_witness_put(struct hf_lease *l, const char *key_id, long long seq, const char *hash,
		   long long ts_ms, struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r = NULL;
	int rc;

	hf_argv_push(&a, "HSET");
	hf_argv_push(&a, HF_AUDIT_WITNESS_KEY);
	hf_argv_push(&a, key_id);
	hf_argv_pushf(&a, "%lld %s %lld", seq, hash, ts_ms);
	rc = hf_flagstore_call(l->s, &a, &r, err);
	hf_argv_release(&a);
	if (!rc)
		freeReplyObject(r);
	return rc;
}

int hf_witness_get(struct hf_lease *l, const char *key_id, long long *seq, char hash[65],
		   int *found, struct hf_err *err)
{
	struct hf_argv a = {0};
	redisReply *r = NULL;
	int rc;

	*found = 0;
	hf_argv_push(&a, "HGET");
	hf_argv_push(&a, HF_AUDIT_WITNESS_KEY);
	hf_argv_push(&a, key_id);
	rc = hf_flagstore_call(l->s, &a, &r, err);
	hf_argv_release(&a);
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_STRING && sscanf(r->str, "%lld %64s", seq, hash) == 2)
		*found = 1;
	freeReplyObject(r);
	return 0;
}
