/* Signed approvals (approval.h): the statement is canonical JSON (keys
 * sorted, compact, ASCII) without its "signature", which signs those very
 * bytes; a verifier re-serialises the statement it read the same way. */
#include "core/approval.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define CANON (JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII)
#define CLOCK_SKEW_S 300

void hf_approval_subject_init(struct hf_approval_subject *s, const struct hf_manifest *m,
			      const struct hf_cluster *c, const struct hf_plan *p)
{
	memset(s, 0, sizeof(*s));
	s->hotfix = hf_xstrdup(m->name);
	s->version = m->version;
	memcpy(s->manifest_sha256, m->sha256, sizeof(s->manifest_sha256));
	s->manifest_sha256[64] = '\0';
	hf_plan_digest(p, s->plan_digest);
	hf_topology_hash(c, s->topology_hash);
	s->cluster = hf_uri_redacted(&c->uri);
	s->lines = hf_plan_lines(p, &s->nlines);
}

void hf_approval_subject_release(struct hf_approval_subject *s)
{
	size_t i;

	for (i = 0; i < s->nlines; i++)
		free(s->lines[i]);
	free(s->lines);
	free(s->hotfix);
	free(s->cluster);
	memset(s, 0, sizeof(*s));
}

char *hf_approval_sign(const struct hf_approval_subject *s, const char *approver,
		       const struct hf_key *k, const char *reason, long long issued,
		       long long expires, struct hf_err *err)
{
	json_t *doc, *plan = json_array();
	char sig[HF_SIG_HEX], kid[HF_KEYID_HEX], *canon, *out = NULL;
	size_t i;

	for (i = 0; i < s->nlines; i++)
		json_array_append_new(plan, json_string(s->lines[i]));
	hf_key_id(k, kid);
	doc = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:I,s:I}",
			"statement", "hotfix/approval/v1", "hotfix", s->hotfix,
			"hotfix_version", (json_int_t)s->version, "manifest_sha256",
			s->manifest_sha256, "plan_digest", s->plan_digest, "topology_hash",
			s->topology_hash, "cluster", s->cluster, "plan", plan, "approver", approver,
			"key_id", kid, "reason", reason ? reason : "", "issued_at",
			(json_int_t)issued, "expires_at", (json_int_t)expires);
	canon = doc ? json_dumps(doc, CANON) : NULL;
	if (canon && !hf_sign(k, canon, strlen(canon), sig, err)) {
		json_object_set_new(doc, "signature", json_string(sig));
		out = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENSURE_ASCII);
	} else if (!canon) {
		hf_err_set(err, HF_ERR, "cannot serialise the approval");
	}
	free(canon);
	json_decref(doc);
	return out;
}

static const char *str_of(json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

/* The first line of 'a' that 'b' does not hold, or NULL. */
static const char *first_missing(json_t *a, char **b, size_t nb, char **a2, size_t na2)
{
	size_t i, k;

	if (a) {
		json_t *v;

		json_array_foreach(a, i, v) {
			const char *s = json_string_value(v);

			for (k = 0; s && k < nb && strcmp(b[k], s); k++)
				;
			if (s && k == nb)
				return s;
		}
		return NULL;
	}
	for (i = 0; i < na2; i++) {
		for (k = 0; k < nb && strcmp(b[k], a2[i]); k++)
			;
		if (k == nb)
			return a2[i];
	}
	return NULL;
}

/* Say how the plan changed since statement 'doc' was signed. */
static void plan_drift(json_t *doc, const struct hf_approval_subject *now, char *why, size_t len)
{
	json_t *approved = json_object_get(doc, "plan");
	char **was = NULL;
	size_t nwas = 0, i;
	const char *gone, *added;
	json_t *v;

	if (json_is_array(approved)) {
		was = hf_xcalloc(json_array_size(approved) + 1, sizeof(*was));
		json_array_foreach(approved, i, v)
			if (json_is_string(v))
				was[nwas++] = (char *)json_string_value(v);
	}
	gone = first_missing(approved, now->lines, now->nlines, NULL, 0);
	added = first_missing(NULL, was, nwas, now->lines, now->nlines);
	if (gone && added)
		snprintf(why, len, "the plan changed since it was signed: approved '%s', now '%s'",
			 gone, added);
	else if (gone)
		snprintf(why, len, "the plan changed since it was signed: '%s' is no longer in it",
			 gone);
	else if (added)
		snprintf(why, len, "the plan changed since it was signed: '%s' is new", added);
	else
		snprintf(why, len, "the plan changed since it was signed (its waves): plan digest "
			 "%.12s, now %.12s", str_of(doc, "plan_digest"), now->plan_digest);
	free(was);
}

/* Signature, identity and role of statement 'doc'; 0 when they hold. */
static int check_signer(json_t *doc, const struct hf_policy *pol, const char *author,
			struct hf_approval_check *out)
{
	const struct hf_policy_identity *id = hf_policy_identity_named(pol, out->approver);
	const char *sig = str_of(doc, "signature");
	json_t *copy;
	char *canon;
	int ok;

	if (!id) {
		snprintf(out->why, sizeof(out->why), "'%s' is no identity of the policy",
			 out->approver);
		return -1;
	}
	copy = json_deep_copy(doc);
	json_object_del(copy, "signature");
	canon = json_dumps(copy, CANON);
	json_decref(copy);
	ok = canon && strcmp(str_of(doc, "key_id"), id->key_id) == 0 &&
	     hf_sign_verify(id->key, canon, strlen(canon), sig) == 1;
	free(canon);
	if (!ok)
		snprintf(out->why, sizeof(out->why), "the signature is not %s's (key %s)", id->name,
			 id->key_id);
	else if (!(id->roles & (HF_PROLE_APPROVER | HF_PROLE_ADMIN)))
		snprintf(out->why, sizeof(out->why), "%s may not approve (role approver or admin "
			 "needed)", id->name);
	else if (author && !strcmp(author, id->name))
		snprintf(out->why, sizeof(out->why), "%s is the author of this apply: an approval "
			 "must come from someone else", id->name);
	else
		return 0;
	return -1;
}

/* What the statement is about, against 'now'; 0 when it is the same. */
static int check_subject(json_t *doc, const struct hf_approval_subject *now, long long t,
			 struct hf_approval_check *out)
{
	json_int_t issued = json_integer_value(json_object_get(doc, "issued_at"));
	json_int_t expires = json_integer_value(json_object_get(doc, "expires_at"));

	if (strcmp(str_of(doc, "statement"), "hotfix/approval/v1"))
		snprintf(out->why, sizeof(out->why), "not a hotfix/approval/v1 statement");
	else if (t >= expires)
		snprintf(out->why, sizeof(out->why), "it expired %lld s ago", (long long)(t - expires));
	else if (issued > t + CLOCK_SKEW_S)
		snprintf(out->why, sizeof(out->why), "it is issued in the future");
	else if (strcmp(str_of(doc, "manifest_sha256"), now->manifest_sha256))
		snprintf(out->why, sizeof(out->why), "it approves another manifest (sha256 %.12s, "
			 "this one is %.12s)", str_of(doc, "manifest_sha256"), now->manifest_sha256);
	else if (strcmp(str_of(doc, "topology_hash"), now->topology_hash))
		snprintf(out->why, sizeof(out->why), "the topology changed since it was signed "
			 "(topology %.12s, now %.12s)", str_of(doc, "topology_hash"),
			 now->topology_hash);
	else if (strcmp(str_of(doc, "plan_digest"), now->plan_digest))
		plan_drift(doc, now, out->why, sizeof(out->why));
	else
		return 0;
	return -1;
}

void hf_approval_check(const char *text, size_t len, const struct hf_policy *pol,
		       const struct hf_approval_subject *now, const char *author, long long t,
		       struct hf_approval_check *out)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

	memset(out, 0, sizeof(*out));
	if (!doc || !json_is_object(doc)) {
		snprintf(out->why, sizeof(out->why), "not an approval statement (%s)",
			 doc ? "not a JSON object" : jerr.text);
		json_decref(doc);
		return;
	}
	snprintf(out->approver, sizeof(out->approver), "%s", str_of(doc, "approver"));
	snprintf(out->reason, sizeof(out->reason), "%s", str_of(doc, "reason"));
	if (!check_signer(doc, pol, author, out) && !check_subject(doc, now, t, out))
		out->counts = 1;
	json_decref(doc);
}

size_t hf_approval_count(struct hf_approval_check *v, size_t n)
{
	size_t i, k, count = 0;

	for (i = 0; i < n; i++) {
		if (!v[i].counts)
			continue;
		for (k = 0; k < i && !(v[k].counts && !strcmp(v[k].approver, v[i].approver)); k++)
			;
		if (k < i) {
			v[i].counts = 0;
			snprintf(v[i].why, sizeof(v[i].why), "a second approval by %s counts once",
				 v[i].approver);
			continue;
		}
		count++;
	}
	return count;
}
