/* The 'data' kind: repair keys, with an exact before-image of every key it
 * touches and a rollback that never overwrites what a client wrote since.
 *
 * A step is (wave, primary): the primary's keys that match the selection
 * and whose hash falls in the wave's share of the key space. Apply scans the
 * primary (SCAN MATCH, or the manifest's key list) and sends the keys in
 * batches to one server-side script per batch, which for each key checks the
 * filter, takes the before-image (DUMP, PEXPIRETIME), applies the change and
 * digests the result, all in one atomic call: no client write can land
 * between the read and the write. The script also leaves each record in a
 * stash hash on the node until the journal has it, so that a hotfix killed
 * between the script and the journal loses no before-image, and a key the
 * script already changed is never changed twice.
 *
 * Revert sends the records back in batches to a second script that, per
 * key, restores the before-image where the key still digests to what the
 * hotfix left, skips a key already back at its before-image, and reports a
 * key written by someone else since as a conflict (restored only when
 * forced).
 *
 * This file holds the kind's operations and the order of their calls. The
 * scripts are in src/kinds/lua (embedded by the build), the formats of
 * their records and stash fields in data_codec.c, the manifest entry in
 * data_spec.c. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "kinds/data.h"
#include "kinds/data_codec.h"
#include "kinds/data_lua.h"
#include "core/stats.h"
#include "engine/redis/load.h"
#include "util/buf.h"
#include "util/keyset.h"
#include "util/misc.h"

#define BUCKETS 10000
#define MAX_ROUNDS_WITHOUT_PROGRESS 20
/* After a failover, or a node that did not answer: how long a primary
 * waits before it is asked again (the others go on meanwhile). */
#define SETTLE_MS 100
#define PLAN_SCAN_CALLS 20
#define PLAN_SCAN_COUNT 1000
#define PLAN_EXAMPLES 3
#define CONFLICTS_SHOWN 5

/* ---- the server-side scripts ---------------------------------------- */

/* The scripts are the .lua files of src/kinds/lua, embedded by the build
 * (kinds/data_lua.h). A script is sent to a node put together: the flags
 * line, common.lua, then, for a script that changes keys, codec.lua and
 * the transform, then the script's own body. */

/* Append a piece of a script to 'b' (when not NULL), ended by a newline so
 * that the next piece starts on a line of its own; returns the lines it
 * takes. */
static int piece(struct hf_buf *b, const char *s)
{
	size_t len = strlen(s), i;
	int lines = !len || s[len - 1] != '\n';

	for (i = 0; i < len; i++)
		lines += s[i] == '\n';
	if (b) {
		hf_buf_append(b, s, len);
		if (!len || s[len - 1] != '\n')
			hf_buf_puts(b, "\n");
	}
	return lines;
}

/* Put the script of 'body' together into 'b' (NULL: only count). Returns
 * the lines before the transform's first one, by which the line numbers of
 * Redis' errors in it are shifted from those of the user's file. */
static int assemble(struct hf_buf *b, const struct hf_change *ch, const char *body, int writes,
		    long long fence)
{
	const struct hf_data_spec *ds = ch->spec;
	int lines = 0;
	char token[48];

	/* A read-only script may run on a replica too. */
	lines += piece(b, writes ? "#!lua flags=allow-cross-slot-keys" :
		       "#!lua flags=no-writes,allow-cross-slot-keys");
	lines += piece(b, hf_data_lua_common);
	if (writes) {
		lines += piece(b, hf_data_lua_codec);
		if (ds->lua_code) {
			lines += piece(b, "local function transform(key)");
			piece(b, ds->lua_code);
			piece(b, "end");
		}
		/* After the transform: its line numbers stay the file's. */
		snprintf(token, sizeof(token), "local FENCE_TOKEN = %lld", fence);
		piece(b, token);
		piece(b, hf_data_lua_fence);
	}
	piece(b, body);
	return lines;
}

/* The script of 'body'; one that writes is fenced with token 'fence' (the
 * cluster's lease, 0: none). */
static char *script(const struct hf_change *ch, const char *body, int writes, long long fence)
{
	struct hf_buf b = {0};

	assemble(&b, ch, body, writes, fence);
	return hf_buf_detach(&b);
}

/* The fence key of the primary whose stash is 'stash': the same hash tag,
 * so the same slot, one the primary serves. */
static const char *fence_key(const char *stash, char *out, size_t len)
{
	const char *tag = strrchr(stash, '{');

	snprintf(out, len, "hotfix:fence:%s", tag ? tag : "{}");
	return out;
}

/* The change as the scripts read it; 'resumed': keys may have been
 * changed already (their records wait in the stash). */
static char *spec_json(const struct hf_change *ch, int resumed)
{
	const struct hf_data_spec *ds = ch->spec;
	json_t *j = json_object();
	size_t i;
	char *s;

	if (resumed)
		json_object_set_new(j, "resumed", json_true());
	if (ds->type)
		json_object_set_new(j, "type", json_string(ds->type));
	if (ds->where_equals) {
		json_object_set_new(j, "where", json_string(ds->where_equals));
		if (ds->where_field)
			json_object_set_new(j, "where_field", json_string(ds->where_field));
	}
	if (ds->del)
		json_object_set_new(j, "delete", json_true());
	if (ds->lua_code)
		json_object_set_new(j, "lua", json_true());
	if (ds->value)
		json_object_set_new(j, "value", json_string(ds->value));
	if (ds->rename_from)
		json_object_set_new(j, "rename", json_pack("[ss]", ds->rename_from, ds->rename_to));
	if (ds->nset) {
		json_t *a = json_array();

		for (i = 0; i < ds->nset; i++) {
			json_array_append_new(a, json_string(ds->set[i].name));
			json_array_append_new(a, json_string(ds->set[i].value));
		}
		json_object_set_new(j, "set", a);
	}
	if (ds->nunset) {
		json_t *a = json_array();

		for (i = 0; i < ds->nunset; i++)
			json_array_append_new(a, json_string(ds->unset[i]));
		json_object_set_new(j, "unset", a);
	}
	if (ds->ttl_ms)
		json_object_set_new(j, "ttl", json_integer(ds->ttl_ms));
	if (ds->persist)
		json_object_set_new(j, "persist", json_true());
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* ---- keys and nodes -------------------------------------------------- */

/* Which share of the key space a key is in: 0 .. BUCKETS - 1 (FNV-1a). */
static unsigned bucket_of(const char *key, size_t len)
{
	return (unsigned)(hf_fnv1a(key, len) % BUCKETS);
}

/* The slot range of 'n''s shard (the topology's first range of the
 * shard's primary): a replica that took over has no slots in a topology
 * read before the failover. -1 when unknown. */
static void shard_slots(const struct hf_cluster *c, const struct hf_node *n, int *lo, int *hi)
{
	size_t k;

	*lo = n->slot_lo;
	*hi = n->slot_hi;
	for (k = 0; *lo < 0 && k < c->nnodes; k++)
		if (c->nodes[k].shard == n->shard && c->nodes[k].slot_lo >= 0) {
			*lo = c->nodes[k].slot_lo;
			*hi = c->nodes[k].slot_hi;
		}
}

/* The stash of run 'run' on a primary: a hash whose slot the primary
 * serves (its hash tag is chosen for that). */
static void stash_key(const struct hf_cluster *c, const struct hf_node *n, const char *run,
		      char *out, size_t len)
{
	char tag[32];
	int i, lo, hi;

	shard_slots(c, n, &lo, &hi);
	for (i = 0;; i++) {
		unsigned slot;

		snprintf(tag, sizeof(tag), "s%d", i);
		slot = hf_key_slot(tag, strlen(tag));
		if (!c->cluster_mode || lo < 0 || ((int)slot >= lo && (int)slot <= hi) || i > 1000000)
			break;
	}
	snprintf(out, len, "hotfix:stash:%s:{%s}", run, tag);
}

/* The node that serves as the primary of 'n''s shard now: 'n' itself, or
 * its primary when a failover made it a replica. NULL when unknown. */
static struct hf_node *serving(struct hf_cluster *c, struct hf_node *n)
{
	struct hf_call call = { .node = n };
	char host[256] = "", port[16] = "", role[16] = "";
	struct hf_node *found = NULL;
	size_t i;

	hf_call_push(&call, "INFO", "replication", NULL);
	hf_fanout(c, &call, 1, c->timeout_ms);
	if (!call.status && call.replies[0] && call.replies[0]->type == HF_REPLY_STRING) {
		hf_info_field(call.replies[0]->str, "role", role, sizeof(role));
		hf_info_field(call.replies[0]->str, "master_host", host, sizeof(host));
		hf_info_field(call.replies[0]->str, "master_port", port, sizeof(port));
		if (!strcmp(role, "master"))
			found = n;
		for (i = 0; !found && i < c->nnodes; i++)
			if (!strcmp(c->nodes[i].host, host) && c->nodes[i].port == atoi(port))
				found = &c->nodes[i];
	}
	hf_calls_release(&call, 1);
	return found;
}

/* Whether a key in the list belongs to primary 'n' (the slot map of the
 * topology: the node's first range; without cluster mode every key). */
static int owns(const struct hf_cluster *c, const struct hf_node *n, const char *key, size_t len)
{
	unsigned slot;
	int lo, hi;

	if (!c->cluster_mode)
		return 1;
	shard_slots(c, n, &lo, &hi);
	slot = hf_key_slot(key, len);
	return lo >= 0 && (int)slot >= lo && (int)slot <= hi;
}

static void push_record(struct hf_argv *a, const struct hf_key_record *r)
{
	struct hf_buf b = {0};

	hf_data_record_encode(r, &b);
	hf_argv_pushb(a, b.s, b.len);
	hf_buf_release(&b);
}

/* The next records from 'at' whose state is in 'states' (a bit per
 * enum hf_key_state), at most 'limit' of them, into 'idx'. Returns how many;
 * '*at' moves past the records looked at. */
static size_t next_records(const struct hf_key_record *recs, size_t nrecs, size_t *at,
			   unsigned states, size_t limit, size_t *idx)
{
	size_t m = 0;

	for (; *at < nrecs && m < limit; (*at)++)
		if (states & (1u << recs[*at].state))
			idx[m++] = *at;
	return m;
}

#define STATE_BIT(s) (1u << (s))
#define BATCH_MAX 1024

static int moved_or_readonly(const struct hf_reply *r)
{
	return r && r->type == HF_REPLY_ERROR && r->str &&
	       (!strncmp(r->str, "MOVED", 5) || !strncmp(r->str, "READONLY", 8) ||
		!strncmp(r->str, "ASK", 3) || !strncmp(r->str, "CLUSTERDOWN", 11) ||
		!strncmp(r->str, "TRYAGAIN", 8));
}

/* ---- apply ----------------------------------------------------------- */

/* The share of the key space wave 'wave' covers, in 1/10000ths: from the
 * previous wave's 'keys' goal to its own (the last wave reaches 100%, as
 * does the wave the plan adds after waves that stop short). */
static void key_share(const struct hf_manifest *m, int wave, int *lo, int *hi)
{
	double prev = 0, goal = 100;

	if (wave >= 2 && (size_t)(wave - 1) <= m->nwaves && m->waves[wave - 2].keys)
		prev = m->waves[wave - 2].percent;
	if ((size_t)wave <= m->nwaves && m->waves[wave - 1].keys)
		goal = m->waves[wave - 1].percent;
	*lo = (int)(prev * 100 + 0.5);
	*hi = (int)(goal * 100 + 0.5);
}

struct scan {
	struct hf_target *t;
	const struct hf_kind_ctx *x;
	int lo, hi;                  /* the step's share of the key space, in 1/10000ths */
	struct hf_node *node;        /* the primary serving the shard now */
	char stash[160];
	char *cursor;                /* SCAN cursor, or index into the key list */
	int scan_done;               /* no more keys to fetch */
	char **keys;                 /* fetched, waiting for the script */
	size_t *lens, nkeys;
	char field[48];              /* the stash field of the batch sent */
	char **ack;                  /* stash fields journaled: they can go */
	size_t nack;
	int recovered;               /* the stash was read back after a crash */
	int resumed;                 /* the stash may hold answers: the script looks first */
	struct hf_keyset taken;      /* keys with a record in this step */
	long long dbsize;            /* keys on the node at the start, for the share done */
	int idle;                    /* rounds without an answer */
	long long not_before;        /* hf_mono_ms() before which it is not asked again */
	int finished;
};

static void free_keys(char **keys, size_t *lens, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(lens);
}

/* hotfix's own bookkeeping keys (stashes, the guard's probes) are never
 * selected, whatever the pattern. */
static int own_key(const char *key, size_t len)
{
	return (len >= 13 && !memcmp(key, "hotfix:stash:", 13)) ||
	       (len >= 13 && !memcmp(key, "hotfix:probe:", 13)) ||
	       (len >= 13 && !memcmp(key, "hotfix:fence:", 13));
}

/* Keep the fetched keys that are in the step's share and have no record
 * yet: SCAN may return a key twice (a rehash during the scan), and after a
 * resume or a failover the scan starts again. */
static void take_keys(struct scan *s, const struct hf_reply *const *k,
		      size_t n, const char *const *list)
{
	size_t i, m = 0;

	s->keys = hf_xcalloc(n ? n : 1, sizeof(*s->keys));
	s->lens = hf_xcalloc(n ? n : 1, sizeof(*s->lens));
	for (i = 0; i < n; i++) {
		const char *key = k ? k[i]->str : list[i];
		size_t len;
		unsigned b;

		if (!key)
			continue;
		len = k ? k[i]->len : strlen(key);
		b = bucket_of(key, len);
		if ((int)b < s->lo || (int)b >= s->hi || own_key(key, len) ||
		    hf_keyset_has(&s->taken, key, len))
			continue;
		s->keys[m] = hf_xmalloc(len + 1);
		memcpy(s->keys[m], key, len);
		s->keys[m][len] = '\0';
		s->lens[m++] = len;
	}
	s->nkeys = m;
}

/* The share of its work a step has done, 0..1. SCAN walks the table's
 * buckets in reverse-binary order: with a table of 2^b buckets (the next
 * power of two of the key count), the cursor's low b bits reversed count
 * the buckets visited. */
static double scan_share(const struct hf_change *ch, const struct scan *s)
{
	const struct hf_data_spec *ds = ch->spec;
	unsigned long long cur = strtoull(s->cursor, NULL, 10), rev = 0;
	int bits = 2, i;

	if (ds->keys)
		return ds->nkeys ? (double)atol(s->cursor) / (double)ds->nkeys : 1;
	if (s->scan_done)
		return 1;
	while (bits < 62 && (1LL << bits) < s->dbsize)
		bits++;
	for (i = 0; i < bits; i++)
		if (cur & (1ULL << i))
			rev |= 1ULL << (bits - 1 - i);
	return (double)rev / (double)(1ULL << bits);
}

/* Keys of the manifest's list for this step's primary, from index 'from':
 * at most 'batch' of them; returns the next index. */
static size_t list_batch(const struct hf_cluster *c, const struct hf_change *ch,
			 const struct scan *s, size_t from, const char ***out, size_t *n)
{
	const struct hf_data_spec *ds = ch->spec;
	const char **keys = hf_xcalloc(ds->batch ? (size_t)ds->batch : 1, sizeof(*keys));
	size_t i = from, m = 0;

	for (; i < ds->nkeys && m < (size_t)ds->batch; i++)
		if (owns(c, s->node, ds->keys[i], strlen(ds->keys[i])))
			keys[m++] = ds->keys[i];
	*out = keys;
	*n = m;
	return i;
}

/* "SCAN cursor MATCH pattern [TYPE type] COUNT count" for the change. */
static void push_scan(struct hf_argv *a, const struct hf_change *ch, const char *cursor, long count)
{
	const struct hf_data_spec *ds = ch->spec;
	hf_argv_push(a, "SCAN");
	hf_argv_push(a, cursor);
	hf_argv_push(a, "MATCH");
	hf_argv_push(a, ds->match);
	if (ds->type) {
		hf_argv_push(a, "TYPE");
		hf_argv_push(a, ds->type);
	}
	hf_argv_push(a, "COUNT");
	hf_argv_pushf(a, "%ld", count);
}

static void queue_fetch(const struct hf_change *ch, struct scan *s, struct hf_call *call)
{
	const struct hf_data_spec *ds = ch->spec;
	if (!s->scan_done && !ds->keys)
		push_scan(hf_call_cmd(call), ch, s->cursor, ds->batch);
}

/* Record the script's answers; returns -1 (with the target failed) when a
 * transform failed or an answer cannot be read. */
static int record_answers(const struct hf_change *ch, struct scan *s, const struct hf_reply *r,
			  struct hf_key_record **recs, size_t *nrecs)
{
	const struct hf_data_spec *ds = ch->spec;
	size_t i;

	*recs = hf_xcalloc(s->nkeys ? s->nkeys : 1, sizeof(**recs));
	*nrecs = 0;
	if (!r || r->type != HF_REPLY_ARRAY) {
		hf_target_set(s->t, HF_ERR, "data script failed: %s",
			      r && r->str ? r->str : "no answer");
		return -1;
	}
	for (i = 0; i < r->nelem && i < s->nkeys; i++) {
		const struct hf_reply *e = r->elem[i];
		struct hf_key_record *k = &(*recs)[*nrecs];

		if (!e->str || !e->len)
			continue;   /* not selected */
		if (e->str[0] == 'E') {
			/* The records before it ('*nrecs') are good. Lines of the
			 * script are the file's, shifted by what precedes it. */
			const char *msg = e->str + 1, *at = strstr(msg, "user_script:");
			int line = at ? atoi(at + 12) - assemble(NULL, ch, "", 1, 0) : 0;
			const char *rest = at ? strchr(at + 12, ':') : NULL;

			if (at && line > 0 && rest)
				hf_target_set(s->t, HF_ERR, "the lua transform failed on key '%.*s' (the key "
					      "is left as it was): %s:%d:%.300s", (int)(s->lens[i] > 200 ? 200 :
					      s->lens[i]), s->keys[i], ds->lua_file, line, rest + 1);
			else
				hf_target_set(s->t, HF_ERR, "the lua transform failed on key '%.*s' (the key "
					      "is left as it was): %.300s", (int)(s->lens[i] > 200 ? 200 :
					      s->lens[i]), s->keys[i], msg);
			return -1;
		}
		if (hf_data_record_decode(e->str, e->len, k)) {
			hf_target_set(s->t, HF_ERR, "unreadable answer for key '%s'", s->keys[i]);
			return -1;
		}
		k->key = s->keys[i];
		k->keylen = s->lens[i];
		k->state = HF_KEY_APPLIED;
		(*nrecs)++;
	}
	return 0;
}

static void ack_field(struct scan *s, const char *field)
{
	s->ack = hf_xrealloc(s->ack, (s->nack + 1) * sizeof(*s->ack));
	s->ack[s->nack++] = hf_xstrdup(field);
}

static void drop_acks(struct scan *s)
{
	free_keys(s->ack, NULL, s->nack);
	s->ack = NULL;
	s->nack = 0;
}

/* Free records whose keys are borrowed (from a batch, or a reply). */
static void free_records(struct hf_key_record *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(recs[i].dump);
	free(recs);
}

/* What recover_stash() gathers from the stash's fields. */
struct stash_take {
	struct hf_keyset pending;     /* the keys of the batch waiting to be sent again */
	struct hf_keyset adding;      /* keys met in the stash so far */
	struct hf_key_record *recs;   /* changed, not journaled; keys point into the reply */
	size_t n, cap;
	size_t *acks, nacks;          /* the reply's elements naming fields that can go */
};

/* Whether the stash field read by 'it' holds a key of 'pending' (the
 * batch waiting to be sent again, which the script answers from it): 1 or
 * 0, or HF_ERR when the field cannot be read. */
static int field_pending(struct hf_data_stash_iter *it, const struct hf_keyset *pending)
{
	const char *key, *rec;
	size_t keylen, reclen;
	int mine = 0, more = 0;

	while (!mine && (more = hf_data_stash_iter_next(it, &key, &keylen, &rec, &reclen)) > 0)
		mine = hf_keyset_has(pending, key, keylen);
	return more < 0 ? HF_ERR : mine;
}

/* Add the records of stash field 'f' (value 'v') to 'st'. Returns 0, or
 * HF_ERR when a record cannot be read. */
static int take_field(struct stash_take *st, const struct scan *s, const struct hf_reply *f,
		      const struct hf_reply *v)
{
	struct hf_data_stash_iter it;
	const char *key, *rec;
	size_t keylen, reclen;

	hf_data_stash_iter_init(&it, f->str, f->len, v->str, v->len);
	while (hf_data_stash_iter_next(&it, &key, &keylen, &rec, &reclen) > 0) {
		struct hf_key_record *k;

		/* A key journaled already, or met twice here, has its record. */
		if (hf_keyset_has(&s->taken, key, keylen) || !hf_keyset_add(&st->adding, key, keylen))
			continue;
		if (st->n == st->cap) {
			st->cap = st->cap ? st->cap * 2 : 64;
			st->recs = hf_xrealloc(st->recs, st->cap * sizeof(*st->recs));
		}
		k = &st->recs[st->n];
		memset(k, 0, sizeof(*k));
		if (hf_data_record_decode(rec, reclen, k))
			return HF_ERR;
		k->key = (char *)key;
		k->keylen = keylen;
		k->state = HF_KEY_APPLIED;
		st->n++;
	}
	return 0;
}

/* Read the stash field at element 'i' of the HGETALL reply 'r' into 'st':
 * its records, and the field to drop once they are journaled; a field of
 * the batch waiting to be sent again is left as it is. Returns 0, or
 * HF_ERR when the field cannot be read (the target failed when it is in a
 * format this hotfix does not know). */
static int read_field(struct scan *s, struct stash_take *st, const struct hf_reply *r, size_t i)
{
	const struct hf_reply *f = r->elem[i], *v = r->elem[i + 1];
	struct hf_data_stash_iter it;
	int mine;

	if (!f->str || !v->str)
		return 0;
	if (hf_data_stash_iter_init(&it, f->str, f->len, v->str, v->len)) {
		hf_target_set(s->t, HF_ERR, "stash field '%.60s' in %s is in a format this "
			      "hotfix does not read (version %d)", f->str, s->stash, it.version);
		return HF_ERR;
	}
	mine = field_pending(&it, &st->pending);
	if (mine)
		return mine < 0 ? HF_ERR : 0;
	if (take_field(st, s, f, v))
		return HF_ERR;
	st->acks[st->nacks++] = i;
	return 0;
}

/* Journal the records found in the stash, with the step's scan position
 * as it is. Returns 0, or HF_ERR with the target failed. */
static int journal_stash(struct scan *s, struct hf_key_record *recs, size_t n)
{
	char *cursor = NULL;
	int done = 0, rc = 0;
	struct hf_err err = {0};

	if (hf_journal_scan_get(s->x->journal, s->x->run_id, s->t->step->seq, &cursor, &done, &err) ||
	    hf_journal_keys_add(s->x->journal, s->x->run_id, s->t->step->seq, recs, n,
				cursor ? cursor : "0", 0, &err)) {
		hf_target_set(s->t, HF_ERR, "%s", err.msg);
		rc = HF_ERR;
	}
	free(cursor);
	return rc;
}

/* After a crash or a failover: journal what the stash holds (changed,
 * not journaled). Its fields are added to 's->ack', to be dropped, except
 * that of the batch waiting to be sent again ('s->keys'): the script
 * answers that batch from the stash. Nothing is marked journaled or
 * dropped unless the journal took the records.
 *
 * Returns 0; HF_EUNREACH when the node did not answer (ask again, on the
 * shard's primary); HF_ERR, with the target failed, when the stash holds
 * what cannot be read or the journal refused its records. */
static int recover_stash(struct hf_cluster *c, struct scan *s)
{
	struct hf_call call = { .node = s->node };
	const struct hf_reply *r;
	struct stash_take st = {0};
	size_t i;
	int rc = 0;

	hf_call_push(&call, "HGETALL", s->stash, NULL);
	hf_fanout(c, &call, 1, c->timeout_ms);
	r = call.replies[0];
	if (call.status || !r || r->type != HF_REPLY_ARRAY) {
		rc = HF_EUNREACH;
		goto out;
	}
	if (r->nelem)
		s->resumed = 1;
	for (i = 0; i < s->nkeys; i++)
		hf_keyset_add(&st.pending, s->keys[i], s->lens[i]);
	st.acks = hf_xcalloc(r->nelem / 2 + 1, sizeof(*st.acks));
	for (i = 0; i + 1 < r->nelem && !rc; i += 2)
		rc = read_field(s, &st, r, i);
	if (rc) {
		if (!s->t->status)
			hf_target_set(s->t, HF_ERR, "unreadable stash field in %s", s->stash);
	} else if (st.n) {
		rc = journal_stash(s, st.recs, st.n);
	}
	if (!rc) {
		/* Journaled: remembered as taken, their fields dropped next. */
		for (i = 0; i < st.n; i++)
			hf_keyset_add(&s->taken, st.recs[i].key, st.recs[i].keylen);
		for (i = 0; i < st.nacks; i++)
			ack_field(s, r->elem[st.acks[i]]->str);
	}
out:
	free_records(st.recs, st.n);
	free(st.acks);
	hf_keyset_free(&st.pending);
	hf_keyset_free(&st.adding);
	hf_calls_release(&call, 1);
	return rc;
}

/* What apply's steps share while their primaries answer one by one. */
struct apply_run {
	const struct hf_change *ch;
	const struct hf_kind_ctx *x;
	struct hf_cluster *c;
	struct scan *s;
	struct hf_call *calls;
	struct hf_target *t;
	size_t n;
	char *code, *spec, *spec_r;
	unsigned batches;
	long long last_progress;
};

/* The stash could not be read: ask again on the node serving the shard
 * now, once things have settled. Returns what apply_next() does: 1 with
 * 'call' held until then, 0 when the node stayed silent too long. */
static int stash_unread(struct apply_run *ar, struct scan *sc, struct hf_call *call)
{
	struct hf_node *now = serving(ar->c, sc->node);

	if (now)
		sc->node = now;
	if (++sc->idle > MAX_ROUNDS_WITHOUT_PROGRESS) {
		hf_target_set(sc->t, HF_EUNREACH, "cannot read the stash on %s:%d",
			      sc->node->host, sc->node->port);
		sc->finished = 1;
		return 0;
	}
	call->node = sc->node;
	call->not_before = sc->not_before = hf_mono_ms() + SETTLE_MS;
	return 1;
}

/* "HDEL stash field..." for the stash fields whose records are journaled. */
static void queue_drop(struct scan *sc, struct hf_call *call)
{
	struct hf_argv *a;
	size_t k;

	if (!sc->nack)
		return;
	a = hf_call_cmd(call);
	hf_argv_push(a, "HDEL");
	hf_argv_push(a, sc->stash);
	for (k = 0; k < sc->nack; k++)
		hf_argv_push(a, sc->ack[k]);
}

/* A key list: the next batch is known here, taken into 'sc->keys' and
 * the cursor (an index into the list) moved past it. */
static void list_next(struct apply_run *ar, struct scan *sc)
{
	const struct hf_data_spec *ds = ar->ch->spec;
	const char **list;
	size_t m, next = list_batch(ar->c, ar->ch, sc, (size_t)atol(sc->cursor), &list, &m);

	take_keys(sc, NULL, m, list);
	free(list);
	free(sc->cursor);
	sc->cursor = hf_xasprintf("%zu", next);
	if (next >= ds->nkeys)
		sc->scan_done = 1;
}

/* The script on the keys fetched, its records kept in a new stash field.
 * It is never sent twice on its own ('once'): a batch whose answer was
 * lost is sent again only after the stash is read, and answered from it. */
static void queue_script(struct apply_run *ar, struct scan *sc, struct hf_call *call)
{
	char fence[64];
	struct hf_argv *a;
	size_t k;

	if (!sc->nkeys)
		return;
	snprintf(sc->field, sizeof(sc->field), "%lld.%u", hf_wall_ms(), ++ar->batches);
	hf_call_push(call, "EVAL", ar->code, "2", sc->stash,
		     fence_key(sc->stash, fence, sizeof(fence)), sc->resumed ? ar->spec_r : ar->spec,
		     sc->field, NULL);
	a = &call->cmds[call->ncmds - 1];
	call->once = 1;
	for (k = 0; k < sc->nkeys; k++)
		hf_argv_pushb(a, sc->keys[k], sc->lens[k]);
}

/* Fill 'call' with the primary's next commands: drop the stash fields
 * journaled, run the script on the keys fetched, fetch the next keys.
 * Returns 1 with commands to send, or with none and a 'not_before' (a
 * primary that did not answer is asked again then, never slept on: the
 * others go on meanwhile); 0 when the step is over. */
static int apply_next(struct apply_run *ar, size_t i)
{
	const struct hf_data_spec *ds = ar->ch->spec;
	struct scan *sc = &ar->s[i];
	struct hf_call *call = &ar->calls[i];

	memset(call, 0, sizeof(*call));
	call->node = sc->node;
	if (sc->finished)
		return 0;
	if (hf_mono_ms() < sc->not_before) {
		/* Handed back when it is time, with nothing sent. */
		call->not_before = sc->not_before;
		return 1;
	}
	if (!sc->recovered) {
		/* First look at the stash: a crashed run may have left records. */
		int rc = recover_stash(ar->c, sc);

		if (rc == HF_EUNREACH)
			return stash_unread(ar, sc, call);
		if (rc) {
			sc->finished = 1;
			return 0;
		}
		sc->recovered = 1;
		call->node = sc->node;
	}
	queue_drop(sc, call);
	if (ds->keys && !sc->nkeys && !sc->scan_done)
		list_next(ar, sc);
	queue_script(ar, sc, call);
	queue_fetch(ar->ch, sc, call);
	if (!call->ncmds && sc->scan_done) {
		/* Nothing left to send: the step is complete. */
		struct hf_err err = {0};

		if (hf_journal_keys_add(sc->x->journal, sc->x->run_id, sc->t->step->seq, NULL, 0,
					sc->cursor, 1, &err))
			hf_target_set(sc->t, HF_ERR, "%s", err.msg);
		sc->finished = 1;
		return 0;
	}
	return 1;
}

/* Find the script's and the SCAN's replies in 'call' ('*eval', '*fetch':
 * NULL when not sent). Returns whether the batch must be sent again: the
 * node did not answer, or redirected it (a failover). */
static int batch_replies(const struct scan *sc, const struct hf_call *call,
			 const struct hf_reply **eval, const struct hf_reply **fetch)
{
	size_t r = 0;

	if (call->status)
		return 1;
	if (sc->nack)
		r++;   /* HDEL: a failure only leaves stash entries */
	if (sc->nkeys)
		*eval = call->replies[r++];
	if (call->ncmds > r)
		*fetch = call->replies[r++];
	return moved_or_readonly(*eval) || moved_or_readonly(*fetch);
}

/* A failover, or a node that did not answer: find the shard's primary
 * and ask again after SETTLE_MS; a SCAN cursor is only good on the node
 * that gave it. */
static void retry_batch(struct apply_run *ar, struct scan *sc, const struct hf_call *call,
			const struct hf_reply *eval, const struct hf_reply *fetch)
{
	const struct hf_data_spec *ds = ar->ch->spec;
	struct hf_node *now = serving(ar->c, sc->node);

	if (now && now != sc->node && !ds->keys) {
		free(sc->cursor);
		sc->cursor = hf_xstrdup("0");
		sc->scan_done = 0;
	}
	if (now) {
		sc->node = now;
		stash_key(ar->c, now, sc->x->run_id, sc->stash, sizeof(sc->stash));
	}
	/* The script may have run: the stash is read again first, and
	 * the batch answered from it. */
	sc->resumed = 1;
	sc->recovered = 0;
	if (++sc->idle > MAX_ROUNDS_WITHOUT_PROGRESS) {
		hf_target_set(sc->t, call->status ? call->status : HF_ERR, "%s",
			      call->status ? call->error : (eval && eval->str) ? eval->str :
			      (fetch && fetch->str) ? fetch->str : "no answer");
		sc->finished = 1;
	}
	sc->not_before = hf_mono_ms() + SETTLE_MS;
}

/* A transform failed, or an answer could not be read: the step ends. The
 * keys changed before the failure are journaled, so that the rollback
 * restores them. */
static void abandon_batch(struct scan *sc, struct hf_key_record *recs, size_t nrecs)
{
	if (nrecs)
		hf_journal_keys_add(sc->x->journal, sc->x->run_id, sc->t->step->seq, recs, nrecs,
				    sc->cursor, 0, NULL);
	free_records(recs, nrecs);
	free_keys(sc->keys, sc->lens, sc->nkeys);
	sc->keys = NULL;
	sc->lens = NULL;
	sc->nkeys = 0;
	sc->finished = 1;
}

/* Take the keys of the SCAN reply 'fetch' as the next batch. Returns the
 * cursor that comes after them (caller frees), or NULL, with the step
 * failed when the SCAN did. */
static char *take_fetched(struct scan *sc, const struct hf_reply *fetch)
{
	char *next = NULL;

	if (fetch && fetch->type == HF_REPLY_ARRAY && fetch->nelem == 2 && fetch->elem[0]->str &&
	    fetch->elem[1]->type == HF_REPLY_ARRAY) {
		next = hf_xstrdup(fetch->elem[0]->str);
		take_keys(sc, (const struct hf_reply *const *)fetch->elem[1]->elem,
			  fetch->elem[1]->nelem, NULL);
		if (!strcmp(next, "0"))
			sc->scan_done = 1;
	} else if (fetch) {
		hf_target_set(sc->t, HF_ERR, "SCAN failed: %s", fetch->str ? fetch->str : "?");
		sc->finished = 1;
	}
	return next;
}

/* The primary answered (or failed): journal the records of its batch, in
 * a transaction of their own, before its next batch is sent. */
static void apply_answer(struct apply_run *ar, size_t i)
{
	struct scan *sc = &ar->s[i];
	struct hf_call *call = &ar->calls[i];
	const struct hf_reply *eval = NULL, *fetch = NULL;
	struct hf_key_record *recs = NULL;
	size_t nrecs = 0, k, *done_lens = NULL, done_n = 0;
	char **done_keys = NULL;
	char *next = NULL;
	struct hf_err err = {0};

	if (sc->finished || !call->ncmds)
		return;
	/* Keys changed on the node, records not journaled yet: only the
	 * stash holds their before-images now. */
	hf_crashpoint("data-script");
	if (batch_replies(sc, call, &eval, &fetch)) {
		retry_batch(ar, sc, call, eval, fetch);
		return;
	}
	sc->idle = 0;
	drop_acks(sc);
	if (sc->nkeys && record_answers(ar->ch, sc, eval, &recs, &nrecs)) {
		abandon_batch(sc, recs, nrecs);
		return;
	}
	sc->t->looked += (long long)sc->nkeys;
	sc->t->changed += (long long)nrecs;
	for (k = 0; k < nrecs; k++)
		hf_keyset_add(&sc->taken, recs[k].key, recs[k].keylen);
	/* The batch's stash field goes once its records are journaled; its
	 * keys live until then ('recs' points into them). */
	if (nrecs)
		ack_field(sc, sc->field);
	done_keys = sc->keys;
	done_lens = sc->lens;
	done_n = sc->nkeys;
	sc->keys = NULL;
	sc->lens = NULL;
	sc->nkeys = 0;
	next = take_fetched(sc, fetch);
	/* The position to resume from regenerates the keys fetched but not
	 * sent yet: the cursor that fetched them. */
	if (hf_journal_keys_add(sc->x->journal, sc->x->run_id, sc->t->step->seq, recs, nrecs,
				sc->cursor, sc->scan_done && !sc->nkeys, &err)) {
		hf_target_set(sc->t, HF_ERR, "%s", err.msg);
		sc->finished = 1;
	}
	free_records(recs, nrecs);
	free_keys(done_keys, done_lens, done_n);
	if (next) {
		free(sc->cursor);
		sc->cursor = next;
	}
	if (!sc->finished && sc->scan_done && !sc->nkeys && !sc->nack)
		sc->finished = 1;
	/* else one more call drops the last stash entries */
	hf_crashpoint("data-batch");   /* a batch journaled, the next not sent */
}

static void apply_progress(struct apply_run *ar)
{
	long long scanned = 0, changed = 0;
	double done = 0;
	size_t i;

	if (!ar->n || !ar->x->progress || hf_mono_ms() - ar->last_progress < 250)
		return;
	for (i = 0; i < ar->n; i++) {
		scanned += ar->t[i].looked;
		changed += ar->t[i].changed;
		done += ar->s[i].finished ? 1.0 : scan_share(ar->ch, &ar->s[i]);
	}
	ar->x->progress(ar->x->progress_ud, scanned, changed, done / (double)ar->n);
	ar->last_progress = hf_mono_ms();
}

/* hf_fanout_each's 'next': each primary goes at its own pace, so one
 * journals while the others run their scripts. */
static int apply_step(void *ud, size_t i)
{
	struct apply_run *ar = ud;

	apply_answer(ar, i);
	hf_calls_release(&ar->calls[i], 1);
	apply_progress(ar);
	return apply_next(ar, i);
}

static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	struct apply_run ar = { .ch = ch, .x = x, .c = c, .t = t, .n = n,
				.last_progress = hf_mono_ms() };
	size_t i;

	ar.s = hf_xcalloc(n ? n : 1, sizeof(*ar.s));
	ar.calls = hf_xcalloc(n ? n : 1, sizeof(*ar.calls));
	ar.code = script(ch, hf_data_lua_apply, 1, x->fence);
	ar.spec = spec_json(ch, 0);
	ar.spec_r = spec_json(ch, 1);
	for (i = 0; i < n; i++) {
		struct scan *sc = &ar.s[i];
		struct hf_err jerr = {0};
		int done = 0;

		sc->t = &t[i];
		sc->x = x;
		key_share(x->m, t[i].step->wave, &sc->lo, &sc->hi);
		t[i].status = 0;
		sc->node = t[i].node;
		stash_key(c, t[i].node, x->run_id, sc->stash, sizeof(sc->stash));
		if (hf_journal_scan_get(x->journal, x->run_id, t[i].step->seq, &sc->cursor, &done,
					NULL))
			sc->cursor = hf_xstrdup("0");
		sc->scan_done = done;
		sc->finished = done;
		/* A step that journaled a batch meets its keys again. */
		sc->resumed = strcmp(sc->cursor, "0") != 0;
		if (hf_journal_keys_into(x->journal, x->run_id, t[i].step->seq, &sc->taken, &jerr)) {
			hf_target_set(&t[i], HF_ERR, "%s", jerr.msg);
			sc->finished = 1;
			continue;
		}
		if (!done && x->progress) {
			struct hf_call call = { .node = t[i].node };

			hf_call_push(&call, "DBSIZE", NULL);
			hf_fanout(c, &call, 1, c->timeout_ms);
			if (!call.status && call.replies[0] && call.replies[0]->type == HF_REPLY_INTEGER)
				sc->dbsize = call.replies[0]->integer;
			hf_calls_release(&call, 1);
		}
	}
	for (i = 0; i < n; i++)
		apply_next(&ar, i);
	hf_fanout_each(c, ar.calls, n, c->timeout_ms * 5, apply_step, &ar);
	for (i = 0; i < n; i++) {
		free_keys(ar.s[i].keys, ar.s[i].lens, ar.s[i].nkeys);
		drop_acks(&ar.s[i]);
		free(ar.s[i].cursor);
		hf_keyset_free(&ar.s[i].taken);
	}
	hf_calls_release(ar.calls, n);
	free(ar.calls);
	free(ar.s);
	free(ar.code);
	free(ar.spec);
	free(ar.spec_r);
}

/* ---- revert ---------------------------------------------------------- */

/* One step's rollback in progress. */
struct undo {
	struct hf_key_record *recs;
	size_t nrecs, at, from;      /* next record to look at; the batch sent began at 'from' */
	size_t *idx, m;              /* the batch sent: m records */
	size_t tries;                /* rounds without an answer */
	struct hf_node *node;        /* the primary serving the shard now */
	char stash[160];
	int loaded, active;
};

/* Load a step's records, after journaling those a killed apply left only
 * in the stash. 0, or -1 with the target failed. */
static int undo_load(const struct hf_kind_ctx *x, struct hf_target *t, struct undo *u)
{
	struct hf_cluster *c = x->c;
	struct scan sc = { .t = t, .x = x, .node = serving(c, t->node) };
	struct hf_err err = {0};
	int rc;

	if (!sc.node)
		sc.node = t->node;
	u->node = sc.node;
	stash_key(c, u->node, x->run_id, sc.stash, sizeof(sc.stash));
	snprintf(u->stash, sizeof(u->stash), "%s", sc.stash);
	if (hf_journal_keys_into(x->journal, x->run_id, t->step->seq, &sc.taken, &err)) {
		hf_keyset_free(&sc.taken);
		hf_target_set(t, HF_ERR, "%s", err.msg);
		return -1;
	}
	rc = recover_stash(c, &sc);
	drop_acks(&sc);
	hf_keyset_free(&sc.taken);
	if (rc == HF_EUNREACH)
		hf_target_set(t, HF_EUNREACH, "cannot read the stash on %s:%d", u->node->host,
			      u->node->port);
	if (rc)
		return -1;
	if (hf_journal_keys_load(x->journal, x->run_id, t->step->seq, &u->recs, &u->nrecs, &err)) {
		hf_target_set(t, HF_ERR, "%s", err.msg);
		return -1;
	}
	u->loaded = 1;
	return 0;
}

/* Read the script's answer for the batch sent: the records' new states. */
static void undo_answers(struct hf_target *t, struct undo *u, const struct hf_reply *r)
{
	size_t k;

	for (k = 0; k < u->m; k++) {
		struct hf_key_record *rec = &u->recs[u->idx[k]];
		const char *res = r->elem[k]->str ? r->elem[k]->str : "";

		free(rec->note);
		rec->note = NULL;
		if (!strcmp(res, "same") || !strcmp(res, "restored")) {
			rec->state = HF_KEY_REVERTED;
			t->changed += !strcmp(res, "restored");
		} else if (!strcmp(res, "merged")) {
			rec->state = HF_KEY_MERGED;
			t->changed++;
		} else if (!strcmp(res, "forced")) {
			rec->state = HF_KEY_FORCED;
			t->changed++;
		} else if (!strcmp(res, "expired")) {
			rec->state = HF_KEY_EXPIRED;
		} else {
			rec->state = HF_KEY_CONFLICT;
			rec->note = hf_xstrdup(strncmp(res, "conflict:", 9) ? res : res + 9);
		}
	}
}

/* The step's outcome once every batch is answered: conflicts named, the
 * stash dropped. */
static void undo_finish(struct hf_cluster *c, struct hf_target *t, struct undo *u)
{
	struct hf_buf conflicts = {0};
	size_t at, nconf = 0;

	for (at = 0; at < u->nrecs && !t->status; at++) {
		if (u->recs[at].state != HF_KEY_CONFLICT)
			continue;
		if (nconf++ >= CONFLICTS_SHOWN)
			continue;
		/* A narrow record's note says what was found; a whole image's
		 * is the digest of the key now. */
		if (hf_data_record_narrow(&u->recs[at]))
			hf_buf_printf(&conflicts, "%s'%.*s' (%s)", conflicts.len ? ", " : "",
				      (int)(u->recs[at].keylen > 100 ? 100 : u->recs[at].keylen),
				      u->recs[at].key, u->recs[at].note ? u->recs[at].note : "?");
		else
			hf_buf_printf(&conflicts, "%s'%.*s' (hotfix left %.12s, now %.12s)",
				      conflicts.len ? ", " : "",
				      (int)(u->recs[at].keylen > 100 ? 100 : u->recs[at].keylen),
				      u->recs[at].key, u->recs[at].after,
				      u->recs[at].note ? u->recs[at].note : "?");
	}
	if (!t->status) {
		/* Every record is journaled and reverted: the stash can go. */
		struct hf_call call = { .node = u->node };

		hf_call_push(&call, "DEL", u->stash, NULL);
		hf_fanout(c, &call, 1, c->timeout_ms);
		hf_calls_release(&call, 1);
	}
	if (nconf)
		hf_target_set(t, HF_ECONFLICT, "%zu key(s) written by someone else since the "
			      "hotfix, kept as they are: %s%s", nconf, conflicts.s,
			      nconf > CONFLICTS_SHOWN ? ", ..." : "");
	else if (!t->status)
		t->match = 1;
	hf_buf_release(&conflicts);
}

/* What revert's steps share while their primaries answer one by one. */
struct revert_run {
	const struct hf_kind_ctx *x;
	struct hf_cluster *c;
	struct hf_target *t;
	struct undo *u;
	struct hf_call *calls;
	char *code;
	char *spec;                  /* the change as JSON: narrow records' after-state */
	size_t limit;
	unsigned states;
	int force;
};

/* Fill calls[i] with the step's next batch of records to restore; 0 when
 * every record has been looked at. */
static int revert_next(struct revert_run *rr, size_t i)
{
	struct undo *u = &rr->u[i];
	struct hf_call *call = &rr->calls[i];
	char fence[64];
	size_t k;

	memset(call, 0, sizeof(*call));
	call->node = u->node;
	if (!u->active)
		return 0;
	u->from = u->at;
	u->m = next_records(u->recs, u->nrecs, &u->at, rr->states, rr->limit, u->idx);
	if (!u->m) {
		u->active = 0;   /* every record looked at */
		return 0;
	}
	hf_call_push(call, "EVAL", rr->code, "1", fence_key(u->stash, fence, sizeof(fence)),
		     rr->force ? "1" : "0", rr->spec, NULL);
	for (k = 0; k < u->m; k++) {
		const struct hf_key_record *rec = &u->recs[u->idx[k]];

		hf_argv_pushb(&call->cmds[0], rec->key, rec->keylen);
		push_record(&call->cmds[0], rec);
	}
	return 1;
}

/* hf_fanout_each's 'next': journal the primary's answers, then send it
 * its next batch. */
static int revert_step(void *ud, size_t i)
{
	struct revert_run *rr = ud;
	struct undo *u = &rr->u[i];
	struct hf_call *call = &rr->calls[i];
	const struct hf_reply *r = call->replies[0];
	struct hf_err err = {0};

	if (!u->active || !call->ncmds)
		return revert_next(rr, i);
	if (call->status || moved_or_readonly(r) || !r || r->type != HF_REPLY_ARRAY ||
	    r->nelem != u->m) {
		/* A failover, or no answer: the same batch again, on the node
		 * serving the shard now. */
		struct hf_node *now = serving(rr->c, u->node);

		if (++u->tries > MAX_ROUNDS_WITHOUT_PROGRESS || !now) {
			hf_target_set(&rr->t[i], call->status ? call->status : HF_ERR, "%s",
				      call->status ? call->error : r && r->str ? r->str : "no answer");
			u->active = 0;
			hf_calls_release(call, 1);
			return 0;
		}
		u->node = now;
		u->at = u->from;
		hf_calls_release(call, 1);
		if (!revert_next(rr, i))
			return 0;
		/* Sent once the failover has settled; the others go on. */
		call->not_before = hf_mono_ms() + SETTLE_MS;
		return 1;
	}
	u->tries = 0;
	undo_answers(&rr->t[i], u, r);
	hf_calls_release(call, 1);
	if (hf_journal_keys_update(rr->x->journal, rr->x->run_id, rr->t[i].step->seq, u->recs,
				   u->idx, u->m, &err)) {
		hf_target_set(&rr->t[i], HF_ERR, "%s", err.msg);
		u->active = 0;
		return 0;
	}
	hf_crashpoint("data-revert");
	return revert_next(rr, i);
}

/* Every step at once, each primary at its own pace: a batch's answers are
 * journaled before the primary gets its next batch. */
static void revert(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, unsigned flags)
{
	int force = !!(flags & HF_REVERT_FORCE);
	struct hf_cluster *c = x->c;
	const struct hf_data_spec *ds = ch->spec;
	struct revert_run rr = { .x = x, .c = c, .t = t, .force = force };
	size_t i;

	rr.code = script(ch, hf_data_lua_revert, 1, x->fence);
	rr.spec = spec_json(ch, 0);
	rr.u = hf_xcalloc(n ? n : 1, sizeof(*rr.u));
	rr.calls = hf_xcalloc(n ? n : 1, sizeof(*rr.calls));
	rr.limit = ds->batch < BATCH_MAX ? (size_t)ds->batch : BATCH_MAX;
	rr.states = STATE_BIT(HF_KEY_APPLIED) | (force ? STATE_BIT(HF_KEY_CONFLICT) : 0);
	for (i = 0; i < n; i++) {
		t[i].status = 0;
		t[i].match = 0;
		rr.u[i].idx = hf_xcalloc(rr.limit ? rr.limit : 1, sizeof(*rr.u[i].idx));
		rr.u[i].active = !undo_load(x, &t[i], &rr.u[i]);
	}
	for (i = 0; i < n; i++)
		revert_next(&rr, i);
	hf_fanout_each(c, rr.calls, n, c->timeout_ms * 5, revert_step, &rr);
	hf_calls_release(rr.calls, n);
	for (i = 0; i < n; i++) {
		if (rr.u[i].loaded)
			undo_finish(c, &t[i], &rr.u[i]);
		hf_key_records_free(rr.u[i].recs, rr.u[i].nrecs);
		free(rr.u[i].idx);
	}
	free(rr.calls);
	free(rr.u);
	free(rr.code);
	free(rr.spec);
}

/* ---- verify, capture ------------------------------------------------ */

/* AFTER: the step's scan is complete (every selected key was changed by
 * the script, which digested it on the node). BEFORE: every record that was
 * restored is still at its before-state on the node (the revert script,
 * looking only). */
static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	struct hf_cluster *c = x->c;
	const struct hf_data_spec *ds = ch->spec;
	char *code = script(ch, hf_data_lua_revert, 1, 0), *spec = spec_json(ch, 0);
	size_t i;

	for (i = 0; i < n; i++) {
		struct hf_key_record *recs = NULL;
		size_t nrecs = 0, at = 0, bad = 0;
		struct hf_node *node;
		char *cursor = NULL;
		int done = 0;

		t[i].status = 0;
		t[i].match = 0;
		if (side == HF_SIDE_AFTER) {
			if (!hf_journal_scan_get(x->journal, x->run_id, t[i].step->seq, &cursor, &done,
						 NULL))
				t[i].match = done;
			free(cursor);
			if (t[i].match && !t[i].step->after) {
				free(t[i].step->after);
				t[i].step->after = hf_xstrdup("{\"keys\":\"journal\"}");
			}
			continue;
		}
		node = serving(c, t[i].node);
		if (!node) {
			hf_target_set(&t[i], HF_EUNREACH, "node %s:%d did not answer", t[i].node->host,
				      t[i].node->port);
			continue;
		}
		hf_journal_keys_load(x->journal, x->run_id, t[i].step->seq, &recs, &nrecs, NULL);
		while (at < nrecs && !t[i].status) {
			struct hf_call call = { .node = node };
			struct hf_argv *a;
			size_t idx[BATCH_MAX], m, k;
			const struct hf_reply *r;

			m = next_records(recs, nrecs, &at, ~STATE_BIT(HF_KEY_CONFLICT),
					 ds->batch < BATCH_MAX ? (size_t)ds->batch : BATCH_MAX, idx);
			if (!m)
				continue;
			a = hf_call_cmd(&call);
			hf_argv_push(a, "EVAL");
			hf_argv_push(a, code);
			hf_argv_push(a, "0");
			hf_argv_push(a, "check");
			hf_argv_push(a, spec);
			for (k = 0; k < m; k++) {
				const struct hf_key_record *rec = &recs[idx[k]];

				hf_argv_pushb(a, rec->key, rec->keylen);
				push_record(a, rec);
			}
			hf_fanout(c, &call, 1, c->timeout_ms * 5);
			r = call.replies[0];
			if (call.status || !r || r->type != HF_REPLY_ARRAY || r->nelem != m) {
				hf_target_set(&t[i], call.status ? call.status : HF_ERR, "%s",
					      call.status ? call.error : r && r->str ? r->str : "no answer");
			} else {
				for (k = 0; k < m; k++) {
					const struct hf_key_record *rec = &recs[idx[k]];
					const char *d = r->elem[k]->str ? r->elem[k]->str : "";
					int ok = rec->state == HF_KEY_EXPIRED ? !strcmp(d, "expired") :
						 rec->state == HF_KEY_APPLIED ? 0 : !strcmp(d, "same");

					bad += !ok;
				}
			}
			hf_calls_release(&call, 1);
		}
		if (!t[i].status)
			t[i].match = !bad;
		if (bad)
			snprintf(t[i].error, sizeof(t[i].error), "%zu key(s) do not hold their before-image",
				 bad);
		hf_key_records_free(recs, nrecs);
	}
	free(code);
	free(spec);
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		    size_t n)
{
	size_t i;

	(void)ch;
	(void)x;
	/* Each key's before-image is taken by the apply script itself, in the
	 * same atomic call that changes the key; the step records where. */
	for (i = 0; i < n; i++) {
		t[i].status = 0;
		if (!t[i].step->before)
			t[i].step->before = hf_xstrdup("{\"keys\":\"journal\"}");
	}
}

/* ---- plan ----------------------------------------------------------- */

/* The hash fields a change reads or writes, each once. */
static size_t touched_fields(const struct hf_change *ch, const char **out, size_t max)
{
	const struct hf_data_spec *ds = ch->spec;
	const char *all[64];
	size_t n = 0, m = 0, i, k;

	for (i = 0; i < ds->nset && n < 60; i++)
		all[n++] = ds->set[i].name;
	for (i = 0; i < ds->nunset && n < 60; i++)
		all[n++] = ds->unset[i];
	if (ds->rename_from) {
		all[n++] = ds->rename_from;
		all[n++] = ds->rename_to;
	}
	if (ds->where_field)
		all[n++] = ds->where_field;
	for (i = 0; i < n && m < max; i++) {
		for (k = 0; k < m && strcmp(out[k], all[i]); k++)
			;
		if (k == m)
			out[m++] = all[i];
	}
	return m;
}

/* What the change makes of hash field 'f' whose value is 'v' (NULL when
 * absent), given the key's other touched fields. */
static const char *field_after(const struct hf_change *ch, const char *f, const char *v,
			       const char **fields, const struct hf_reply *vals, size_t n)
{
	const struct hf_data_spec *ds = ch->spec;
	size_t i;

	if (ds->rename_from && !strcmp(f, ds->rename_to)) {
		for (i = 0; i < n; i++)
			if (!strcmp(fields[i], ds->rename_from) && vals->elem[i]->str)
				v = vals->elem[i]->str;
	}
	if (ds->rename_from && !strcmp(f, ds->rename_from))
		v = NULL;
	for (i = 0; i < ds->nset; i++)
		if (!strcmp(f, ds->set[i].name))
			v = ds->set[i].value;
	for (i = 0; i < ds->nunset; i++)
		if (!strcmp(f, ds->unset[i]))
			v = NULL;
	return v;
}

/* What an example shows of a key besides its TTL. */
enum example { EX_NOTHING, EX_FIELDS, EX_VALUE };

/* EX_FIELDS: the hash fields the change touches (into 'fields', '*nf' of
 * them); EX_VALUE: a string's value; nothing for a transform or a key of
 * any type. */
static enum example example_of(const struct hf_change *ch, const char **fields, size_t *nf)
{
	const struct hf_data_spec *ds = ch->spec;

	*nf = 0;
	if (!ds->type || ds->lua_code)
		return EX_NOTHING;
	if (!strcmp(ds->type, "hash") && (*nf = touched_fields(ch, fields, 16)))
		return EX_FIELDS;
	return !strcmp(ds->type, "string") ? EX_VALUE : EX_NOTHING;
}

/* Add to 'call' the commands that show key 'key' for an example (two at
 * most: its fields or value, and its TTL). */
static void describe_push(const struct hf_change *ch, struct hf_call *call, const char *key,
			  size_t len)
{
	const char *fields[16];
	size_t nf, i;
	struct hf_argv *a;

	switch (example_of(ch, fields, &nf)) {
	case EX_FIELDS:
		a = hf_call_cmd(call);
		hf_argv_push(a, "HMGET");
		hf_argv_pushb(a, key, len);
		for (i = 0; i < nf; i++)
			hf_argv_push(a, fields[i]);
		break;
	case EX_VALUE:
		a = hf_call_cmd(call);
		hf_argv_push(a, "GET");
		hf_argv_pushb(a, key, len);
		break;
	case EX_NOTHING:
		break;
	}
	a = hf_call_cmd(call);
	hf_argv_push(a, "PTTL");
	hf_argv_pushb(a, key, len);
}

/* One example for the plan, from the answers to describe_push()'s
 * commands from call->replies[*at] on ('*at' moves past them): "'user:7'
 * {plan: legacy} -> {plan: basic}". */
static void describe(const struct hf_change *ch, const struct hf_call *call, size_t *at,
		     const char *key, size_t len, struct hf_buf *out)
{
	const struct hf_data_spec *ds = ch->spec;
	const struct hf_reply *r = NULL, *ttl;
	const char *fields[16];
	size_t nf, i;
	enum example ex = example_of(ch, fields, &nf);

	hf_buf_printf(out, "'%.*s' ", (int)(len > 60 ? 60 : len), key);
	if (call->status)
		return;
	if (ex != EX_NOTHING)
		r = call->replies[(*at)++];
	ttl = call->replies[(*at)++];
	if (r && r->type == HF_REPLY_ARRAY && r->nelem == nf) {
		hf_buf_puts(out, "{");
		for (i = 0; i < nf; i++)
			hf_buf_printf(out, "%s%s: %.30s", i ? ", " : "", fields[i],
				      r->elem[i]->str ? r->elem[i]->str : "(none)");
		hf_buf_puts(out, "} -> {");
		for (i = 0; i < nf; i++) {
			const char *v = field_after(ch, fields[i], r->elem[i]->str, fields, r, nf);

			hf_buf_printf(out, "%s%s: %.30s", i ? ", " : "", fields[i], v ? v : "(none)");
		}
		hf_buf_puts(out, "}");
	} else if (r) {
		hf_buf_printf(out, "\"%.30s\" -> \"%.30s\"", r->str ? r->str : "(nil)",
			      ds->value ? ds->value : r->str ? r->str : "(nil)");
	} else {
		hf_buf_puts(out, ds->del ? "-> deleted" : ds->lua_code ? "-> (lua transform)" : "");
	}
	if (ttl && ttl->type == HF_REPLY_INTEGER && (ds->ttl_ms || ds->persist))
		hf_buf_printf(out, " ttl %s -> %s", ttl->integer >= 0 ? "set" : "none",
			      ds->persist ? "none" : "set");
}

static void describe_change(const struct hf_change *ch, struct hf_buf *out)
{
	const struct hf_data_spec *ds = ch->spec;
	size_t i;

	if (ds->del) {
		hf_buf_puts(out, "deleted");
		return;
	}
	if (ds->lua_code) {
		hf_buf_printf(out, "lua %s (sha256 %.12s)", ds->lua_file, ds->lua_sha256);
		return;
	}
	if (ds->value)
		hf_buf_printf(out, "= %.40s ", ds->value);
	for (i = 0; i < ds->nset; i++)
		hf_buf_printf(out, "%s%s: %.40s", i ? ", " : "set {", ds->set[i].name,
			      ds->set[i].value);
	if (ds->nset)
		hf_buf_puts(out, "} ");
	for (i = 0; i < ds->nunset; i++)
		hf_buf_printf(out, "%s%s", i ? ", " : "unset ", ds->unset[i]);
	if (ds->nunset)
		hf_buf_puts(out, " ");
	if (ds->rename_from)
		hf_buf_printf(out, "rename %s -> %s ", ds->rename_from, ds->rename_to);
	if (ds->ttl_ms)
		hf_buf_printf(out, "ttl %lld ms ", ds->ttl_ms);
	if (ds->persist)
		hf_buf_puts(out, "persist ");
	if (out->len && out->s[out->len - 1] == ' ')
		out->s[--out->len] = '\0';
}

/* One primary's count while the plan asks it. */
struct tally {
	struct hf_target *t;
	char cursor[32];             /* SCAN's */
	size_t li;                   /* a key list: the next key to look at */
	long long found, dbsize;
	int calls_made;              /* batches of keys fetched: SCAN calls, or list batches */
	int complete;                /* every key was looked at */
	char **keys;                 /* fetched, sent to the match script next */
	size_t *lens, nkeys;
	int matching, scanning;      /* what the call in flight asks */
	char *ex[PLAN_EXAMPLES];     /* the first keys selected, to show */
	size_t exlen[PLAN_EXAMPLES], nex;
};

/* What the plan's primaries share while they answer one by one. */
struct plan_run {
	const struct hf_change *ch;
	struct hf_cluster *c;
	struct tally *tl;
	struct hf_call *calls;
	char *match, *spec;
};

/* Keep a copy of key 'key' for the match script. */
static void tally_key(struct tally *tl, const char *key, size_t len)
{
	tl->keys[tl->nkeys] = hf_xmalloc(len + 1);
	memcpy(tl->keys[tl->nkeys], key, len);
	tl->keys[tl->nkeys][len] = '\0';
	tl->lens[tl->nkeys++] = len;
}

/* Fill calls[i] with the primary's next questions: the match script on
 * the keys fetched last (a key list's next batch is known here), and the
 * next SCAN, in one call. 0 when the primary is done. */
static int plan_next(struct plan_run *pr, size_t i)
{
	const struct hf_change *ch = pr->ch;
	const struct hf_data_spec *ds = ch->spec;
	struct tally *tl = &pr->tl[i];
	struct hf_call *call = &pr->calls[i];
	struct hf_node *nd = tl->t->node;
	int more = !tl->complete && tl->calls_made < PLAN_SCAN_CALLS;
	size_t k;

	memset(call, 0, sizeof(*call));
	call->node = nd;
	tl->matching = tl->scanning = 0;
	if (nd->role != HF_ROLE_PRIMARY || tl->t->status)
		return 0;
	if (ds->keys && more) {
		tl->keys = hf_xcalloc(PLAN_SCAN_COUNT, sizeof(*tl->keys));
		tl->lens = hf_xcalloc(PLAN_SCAN_COUNT, sizeof(*tl->lens));
		for (; tl->li < ds->nkeys && tl->nkeys < PLAN_SCAN_COUNT; tl->li++)
			if (owns(pr->c, nd, ds->keys[tl->li], strlen(ds->keys[tl->li])))
				tally_key(tl, ds->keys[tl->li], strlen(ds->keys[tl->li]));
		tl->complete = tl->li >= ds->nkeys;
		tl->calls_made += tl->nkeys > 0;
	}
	if (tl->nkeys) {
		struct hf_argv *a = hf_call_cmd(call);

		hf_argv_push(a, "EVAL");
		hf_argv_push(a, pr->match);
		hf_argv_push(a, "0");
		hf_argv_push(a, pr->spec);
		for (k = 0; k < tl->nkeys; k++)
			hf_argv_pushb(a, tl->keys[k], tl->lens[k]);
		tl->matching = 1;
	}
	if (!ds->keys && more) {
		push_scan(hf_call_cmd(call), ch, tl->cursor, PLAN_SCAN_COUNT);
		hf_argv_push(hf_call_cmd(call), "DBSIZE");
		tl->scanning = 1;
	}
	return call->ncmds > 0;
}

/* Count the keys the match script selected, keeping the first few as
 * examples, and take the keys SCAN fetched. */
static void plan_answer(struct plan_run *pr, size_t i)
{
	struct tally *tl = &pr->tl[i];
	const struct hf_call *call = &pr->calls[i];
	const struct hf_reply *mr = NULL, *sr = NULL, *dr = NULL;
	size_t r = 0, k;

	if (!call->ncmds)
		return;
	if (call->status) {
		hf_target_set(tl->t, call->status, "%s%s", tl->scanning ? "SCAN: " : "", call->error);
		return;
	}
	if (tl->matching)
		mr = call->replies[r++];
	if (tl->scanning) {
		sr = call->replies[r++];
		dr = call->replies[r++];
	}
	if (mr && mr->type != HF_REPLY_ARRAY) {
		hf_target_set(tl->t, HF_ERR, "%s", mr->str ? mr->str : "?");
		return;
	}
	for (k = 0; mr && k < mr->nelem && k < tl->nkeys; k++) {
		if (mr->elem[k]->integer != 1)
			continue;
		tl->found++;
		if (tl->nex < PLAN_EXAMPLES) {
			/* the key is kept: 'keys' gives it up */
			tl->ex[tl->nex] = tl->keys[k];
			tl->exlen[tl->nex++] = tl->lens[k];
			tl->keys[k] = NULL;
		}
	}
	free_keys(tl->keys, tl->lens, tl->nkeys);
	tl->keys = NULL;
	tl->lens = NULL;
	tl->nkeys = 0;
	if (!sr)
		return;
	if (sr->type != HF_REPLY_ARRAY || sr->nelem != 2 || !sr->elem[0]->str ||
	    sr->elem[1]->type != HF_REPLY_ARRAY) {
		hf_target_set(tl->t, HF_ERR, "SCAN: %s", sr->str ? sr->str : "?");
		return;
	}
	if (dr && dr->type == HF_REPLY_INTEGER)
		tl->dbsize = dr->integer;
	snprintf(tl->cursor, sizeof(tl->cursor), "%s", sr->elem[0]->str);
	tl->complete = !strcmp(tl->cursor, "0");
	tl->calls_made++;
	sr = sr->elem[1];
	tl->keys = hf_xcalloc(sr->nelem ? sr->nelem : 1, sizeof(*tl->keys));
	tl->lens = hf_xcalloc(sr->nelem ? sr->nelem : 1, sizeof(*tl->lens));
	for (k = 0; k < sr->nelem; k++)
		if (sr->elem[k]->str && !own_key(sr->elem[k]->str, sr->elem[k]->len))
			tally_key(tl, sr->elem[k]->str, sr->elem[k]->len);
}

/* hf_fanout_each's 'next': each primary at its own pace. */
static int plan_step(void *ud, size_t i)
{
	struct plan_run *pr = ud;

	plan_answer(pr, i);
	hf_calls_release(&pr->calls[i], 1);
	return plan_next(pr, i);
}

/* The primary's lines of the plan: its count (or estimate), the change,
 * and its examples ('ex'). */
static void plan_report(const struct hf_change *ch, struct tally *tl, const struct hf_buf *ex)
{
	const struct hf_data_spec *ds = ch->spec;
	struct hf_buf what = {0}, where = {0};
	long long est = tl->found;
	double lo = 0, hi = 0, share = 1;

	if (!tl->found && tl->complete)
		return;
	describe_change(ch, &what);
	/* The share of the hash table's buckets the scan visited (from its
	 * cursor): a sample of the keyspace. */
	if (!tl->complete && (tl->dbsize > 0 || ds->keys)) {
		struct scan at = { .cursor = tl->cursor, .dbsize = tl->dbsize };

		share = ds->keys ? (double)tl->li / (double)ds->nkeys : scan_share(ch, &at);
		if (!(share > 0 && share < 1) && tl->dbsize > 0)
			/* SCAN visits about COUNT keys per call */
			share = (double)tl->calls_made * PLAN_SCAN_COUNT / (double)tl->dbsize;
		if (share > 1)
			share = 1;
		if (share > 0)
			est = (long long)(hf_estimate_total((uint64_t)tl->found, share, &lo, &hi) + 0.5);
	}
	if (ds->where_equals)
		hf_buf_printf(&where, " where %s%s= %s", ds->where_field ? ds->where_field : "value",
			      ds->where_field ? " " : " ", ds->where_equals);
	hf_target_add_diff(tl->t, "data: %s%lld key(s) selected by %s%s%s%s%s: %s",
			   tl->complete ? "" : "~", est,
			   ds->keys ? "the key list " : "MATCH ",
			   ds->keys ? ds->keys_file : ds->match,
			   ds->type ? ", type " : "", ds->type ? ds->type : "",
			   where.s ? where.s : "", what.s ? what.s : "");
	if (!tl->complete && ds->keys)
		hf_target_add_diff(tl->t, "  (estimate from the first %zu of the %zu keys "
				   "listed; 95%% interval %.0f-%.0f)", tl->li, ds->nkeys, lo, hi);
	else if (!tl->complete)
		hf_target_add_diff(tl->t, "  (estimate from %.1f%% of the %lld keys, by SCAN; "
				   "95%% interval %.0f-%.0f)", share * 100, tl->dbsize, lo, hi);
	if (tl->nex)
		hf_target_add_diff(tl->t, "  e.g. %s", ex->s);
	hf_buf_release(&what);
	hf_buf_release(&where);
}

/* Compile the transform on a primary (no key: nothing runs), so that one
 * that does not compile is refused before anything is applied. */
static int plan_compile(const struct hf_change *ch, struct hf_cluster *c, struct hf_target *t,
			size_t n, const char *spec, struct hf_err *err)
{
	const struct hf_data_spec *ds = ch->spec;
	char *code = script(ch, hf_data_lua_apply, 1, 0);
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		struct hf_call call = { .node = t[i].node };
		const struct hf_reply *r;

		if (t[i].node->role != HF_ROLE_PRIMARY)
			continue;
		hf_call_push(&call, "EVAL", code, "0", spec, NULL);
		hf_fanout(c, &call, 1, c->timeout_ms);
		r = call.replies[0];
		if (!call.status && r && r->type == HF_REPLY_ERROR)
			rc = hf_err_set(err, HF_EINVAL, "%d:%d: lua file '%s' does not compile: %s",
					ch->pos.line, ch->pos.col, ds->lua_file, r->str);
		hf_calls_release(&call, 1);
		break;
	}
	free(code);
	return rc;
}

/* Primaries are the targets. Count the selected keys: exactly when the
 * scan ends within PLAN_SCAN_CALLS calls per primary, else an estimate from
 * the share of the keyspace scanned; show a few examples. Every primary is
 * asked at once (one fan-out, each at its own pace), and the examples of
 * all in one more. A transform that does not compile is refused here. */
static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n,
		struct hf_err *err)
{
	struct hf_cluster *c = x->c;
	const struct hf_data_spec *ds = ch->spec;
	struct plan_run pr = { .ch = ch, .c = c };
	size_t i, k;
	int rc = 0;

	pr.match = script(ch, hf_data_lua_match, 0, 0);
	pr.spec = spec_json(ch, 0);
	if (ds->lua_code) {
		rc = plan_compile(ch, c, t, n, pr.spec, err);
		if (rc)
			goto out;
	}
	pr.tl = hf_xcalloc(n ? n : 1, sizeof(*pr.tl));
	pr.calls = hf_xcalloc(n ? n : 1, sizeof(*pr.calls));
	for (i = 0; i < n; i++) {
		pr.tl[i].t = &t[i];
		snprintf(pr.tl[i].cursor, sizeof(pr.tl[i].cursor), "0");
		plan_next(&pr, i);
	}
	hf_fanout_each(c, pr.calls, n, c->timeout_ms * 5, plan_step, &pr);
	/* The examples of every primary, in one fan-out. */
	for (i = 0; i < n; i++) {
		memset(&pr.calls[i], 0, sizeof(pr.calls[i]));
		pr.calls[i].node = t[i].node;
		for (k = 0; k < pr.tl[i].nex && !t[i].status; k++)
			describe_push(ch, &pr.calls[i], pr.tl[i].ex[k], pr.tl[i].exlen[k]);
	}
	hf_fanout(c, pr.calls, n, c->timeout_ms);
	for (i = 0; i < n; i++) {
		struct tally *tl = &pr.tl[i];
		struct hf_buf ex = {0};
		size_t at = 0;

		if (!t[i].status && t[i].node->role == HF_ROLE_PRIMARY) {
			for (k = 0; k < tl->nex; k++) {
				hf_buf_puts(&ex, k ? "; " : "");
				describe(ch, &pr.calls[i], &at, tl->ex[k], tl->exlen[k], &ex);
			}
			plan_report(ch, tl, &ex);
		}
		hf_buf_release(&ex);
		free_keys(tl->keys, tl->lens, tl->nkeys);
		for (k = 0; k < tl->nex; k++)
			free(tl->ex[k]);
	}
	hf_calls_release(pr.calls, n);
	free(pr.calls);
	free(pr.tl);
out:
	free(pr.match);
	free(pr.spec);
	return rc;
}

const struct hf_change_kind hf_kind_data = {
	.name = "data",
	.flags = HF_KIND_KEYS | HF_KIND_RESUMABLE_APPLY,
	.unit = "key",
	.parse = hf_data_parse,
	.free = hf_data_free,
	.summary = hf_data_summary,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = revert,
};
