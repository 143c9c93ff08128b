/* The audit trail's hashing, its signed checkpoints and its verification.
 * The SQL is in core/journal.c; what the records say is decided by the
 * commands that write them. */
#include "core/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/journal.h"
#include "util/buf.h"
#include "util/misc.h"
#include "util/sign.h"

/* One field of the canonical form: "name=-" for NULL, else
 * "name=<length>:<bytes>", each on its own line. */
static void canon_field(struct hf_buf *b, const char *name, const char *v)
{
	if (!v)
		hf_buf_printf(b, "%s=-\n", name);
	else
		hf_buf_printf(b, "%s=%zu:%s\n", name, strlen(v), v);
}

void hf_audit_rec_hash(const char *prev, const struct hf_audit_rec *r, char out[65])
{
	struct hf_buf b = {0};

	hf_buf_printf(&b, "hotfix-audit/1\nprev=%s\nseq=%lld\nts_ms=%lld\n", prev ? prev : "",
		      r->seq, r->ts_ms);
	canon_field(&b, "actor", r->actor);
	canon_field(&b, "os_user", r->os_user);
	canon_field(&b, "role", r->role);
	canon_field(&b, "action", r->action);
	canon_field(&b, "why", r->why);
	canon_field(&b, "cluster", r->cluster);
	canon_field(&b, "run_id", r->run_id);
	canon_field(&b, "manifest_sha256", r->manifest_sha256);
	canon_field(&b, "plan_digest", r->plan_digest);
	canon_field(&b, "approvals", r->approvals);
	canon_field(&b, "outcome", r->outcome);
	hf_sha256_hex(b.s, b.len, out);
	hf_buf_release(&b);
}

char *hf_audit_checkpoint_text(const struct hf_audit_checkpoint *cp)
{
	return hf_xasprintf("hotfix-audit-checkpoint/1\nseq=%lld\nhash=%s\nts_ms=%lld\n", cp->seq,
			    cp->hash, cp->ts_ms);
}

/* The state directory's signing key: <state>/audit.key, made on first
 * use. Caller frees with hf_key_free(). */
static int state_key(struct hf_journal *j, struct hf_key **out, struct hf_err *err)
{
	char *path = hf_xasprintf("%s/audit.key", hf_journal_dir(j));
	int rc;

	if (access(path, F_OK) == 0) {
		rc = hf_key_load(path, HF_KEY_PRIVATE, out, err);
	} else {
		rc = hf_key_generate(path, out, err);
		/* Another process may have made it in between. */
		if (rc == HF_EINVAL && access(path, F_OK) == 0)
			rc = hf_key_load(path, HF_KEY_PRIVATE, out, err);
	}
	free(path);
	return rc;
}

/* The state directory's public key, or NULL when it has none yet. */
static struct hf_key *state_public_key(struct hf_journal *j)
{
	char *path = hf_xasprintf("%s/audit.key", hf_journal_dir(j));
	struct hf_key *k = NULL;

	if (access(path, F_OK) == 0 && hf_key_load(path, HF_KEY_PRIVATE, &k, NULL))
		k = NULL;
	free(path);
	return k;
}

static int copy_cp(void *ud, const struct hf_audit_checkpoint *cp)
{
	struct hf_audit_checkpoint *out = ud;

	*out = *cp;
	out->public_pem = NULL;   /* not kept past the callback */
	return 1;
}

int hf_audit_last_checkpoint(struct hf_journal *j, struct hf_audit_checkpoint *out,
			     struct hf_err *err)
{
	struct hf_audit_checkpoint cp = {0};
	int rc = hf_journal_audit_checkpoints(j, 1, copy_cp, &cp, err);

	if (rc < 0)
		return rc;
	*out = cp;
	return rc == 1;
}

int hf_audit_checkpoint(struct hf_journal *j, const struct hf_key *key,
			struct hf_audit_checkpoint *out, struct hf_err *err)
{
	struct hf_audit_checkpoint cp = {0}, last = {0};
	struct hf_key *own = NULL;
	char *text = NULL, *pem = NULL;
	int rc;

	rc = hf_journal_audit_head(j, &cp.seq, cp.hash, err);
	if (rc || !cp.seq)
		return rc;
	rc = hf_audit_last_checkpoint(j, &last, err);
	if (rc < 0)
		return rc;
	if (rc == 1 && last.seq == cp.seq && !strcmp(last.hash, cp.hash)) {
		if (out)
			*out = last;
		return 0;
	}
	if (!key && (rc = state_key(j, &own, err)))
		return rc;
	cp.ts_ms = hf_wall_ms();
	hf_key_id(key ? key : own, cp.key_id);
	pem = hf_key_public_pem(key ? key : own);
	cp.public_pem = pem;
	text = hf_audit_checkpoint_text(&cp);
	rc = hf_sign(key ? key : own, text, strlen(text), cp.sig, err);
	if (!rc)
		rc = hf_journal_audit_checkpoint_add(j, &cp, err);
	if (!rc && out) {
		*out = cp;
		out->public_pem = NULL;
	}
	free(text);
	free(pem);
	hf_key_free(own);
	return rc;
}

int hf_audit_record(struct hf_journal *j, const struct hf_audit_rec *rec, long long *seq,
		    struct hf_err *err)
{
	struct hf_audit_rec r = *rec;
	struct hf_err why = {0};
	int rc;

	if (!r.os_user)
		r.os_user = hf_operator();
	r.ts_ms = 0;
	rc = hf_journal_audit_append(j, &r, &why);
	if (rc)
		return hf_err_set(err, rc, "audit record not committed, nothing done: %s", why.msg);
	if (seq)
		*seq = r.seq;
	if (r.seq % HF_AUDIT_CHECKPOINT_EVERY == 0)
		hf_audit_checkpoint(j, NULL, NULL, NULL);   /* sealed again at the command's end */
	return 0;
}

/* ---- verification ----------------------------------------------------- */

struct walk {
	struct hf_audit_report *rep;
	char prev[65];
	long long expect;        /* the next seq */
};

static void bad(struct hf_audit_report *rep, long long seq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad(struct hf_audit_report *rep, long long seq, const char *fmt, ...)
{
	va_list ap;

	if (rep->why[0])
		return;   /* the first is the one named */
	rep->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
	va_end(ap);
}

static int walk_rec(void *ud, const struct hf_audit_rec *r)
{
	struct walk *w = ud;
	char want[65];

	w->rep->records++;
	if (r->seq != w->expect)
		bad(w->rep, w->expect, "record %lld is missing (the next one is %lld): removed or "
		    "renumbered", w->expect, r->seq);
	else if (strcmp(r->prev_hash, w->prev))
		bad(w->rep, r->seq, "record %lld does not chain to record %lld (prev_hash differs): "
		    "a record was removed, inserted or reordered", r->seq, r->seq - 1);
	hf_audit_rec_hash(r->prev_hash, r, want);
	if (strcmp(want, r->hash))
		bad(w->rep, r->seq, "record %lld was changed: its fields do not hash to its hash",
		    r->seq);
	snprintf(w->prev, sizeof(w->prev), "%s", r->hash);
	w->expect = r->seq + 1;
	w->rep->head = r->seq;
	snprintf(w->rep->head_hash, sizeof(w->rep->head_hash), "%s", r->hash);
	return 0;
}

struct cpwalk {
	struct hf_journal *j;
	struct hf_audit_report *rep;
	struct hf_key *own;      /* the state directory's key, or NULL */
	struct hf_err *err;
};

static void bad_cp(struct cpwalk *w, const struct hf_audit_checkpoint *cp, const char *what)
{
	if (!w->rep->bad_checkpoint)
		w->rep->bad_checkpoint = cp->n;
	bad(w->rep, cp->seq, "checkpoint %lld (record %lld): %s", cp->n, cp->seq, what);
}

static int walk_cp(void *ud, const struct hf_audit_checkpoint *cp)
{
	struct cpwalk *w = ud;
	struct hf_key *k = NULL;
	char *text = hf_audit_checkpoint_text(cp);

	w->rep->checkpoints++;
	if (!cp->public_pem || hf_key_from_pem(cp->public_pem, strlen(cp->public_pem),
					      "checkpoint key", &k, NULL))
		bad_cp(w, cp, "its public key cannot be read");
	else if (!hf_sign_verify(k, text, strlen(text), cp->sig))
		bad_cp(w, cp, "its signature does not verify");
	else if (w->own && !hf_key_same(k, w->own))
		bad_cp(w, cp, "signed by a key other than this state directory's audit.key");
	else if (!hf_audit_verify_witness(w->j, cp->seq, cp->hash, w->rep, w->err) &&
		 cp->seq > w->rep->sealed)
		w->rep->sealed = cp->seq;
	free(text);
	hf_key_free(k);
	return 0;
}

struct find {
	char hash[65];
	int found;
};

static int find_rec(void *ud, const struct hf_audit_rec *r)
{
	struct find *f = ud;

	snprintf(f->hash, sizeof(f->hash), "%s", r->hash);
	f->found = 1;
	return 1;
}

int hf_audit_verify_witness(struct hf_journal *j, long long seq, const char *hash,
			    struct hf_audit_report *rep, struct hf_err *err)
{
	struct find f = {0};
	int rc = hf_journal_audit_each(j, seq - 1, find_rec, &f, err);

	if (rc < 0)
		return rc;
	if (!f.found || strcmp(f.hash, hash))
		bad(rep, seq, "record %lld %s (a checkpoint sealed it with hash %.16s...)", seq,
		    f.found ? "is not the one sealed" : "is missing", hash);
	return 0;
}

int hf_audit_verify(struct hf_journal *j, struct hf_audit_report *rep, struct hf_err *err)
{
	struct walk w = { .rep = rep, .expect = 1 };
	struct cpwalk cw = { .j = j, .rep = rep, .err = err };
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = hf_journal_audit_each(j, 0, walk_rec, &w, err);
	if (rc < 0)
		return rc;
	cw.own = state_public_key(j);
	rc = hf_journal_audit_checkpoints(j, 0, walk_cp, &cw, err);
	hf_key_free(cw.own);
	if (rc < 0)
		return rc;
	/* Records sealed by a checkpoint cannot go missing from the end. */
	if (rep->sealed > rep->head)
		bad(rep, rep->head + 1, "records %lld to %lld were removed (a checkpoint sealed "
		    "record %lld)", rep->head + 1, rep->sealed, rep->sealed);
	return 0;
}

int hf_audit_key_id(struct hf_journal *j, char id[17])
{
	struct hf_key *k = state_public_key(j);

	if (!k)
		return 0;
	hf_key_id(k, id);
	hf_key_free(k);
	return 1;
}
