/* The 'acl' kind: an ACL user, the security hotfix. Redis does not
 * propagate ACLs, so every node is a target. The before-state is the user's
 * line in ACL LIST (or its absence); apply and revert both first clear what
 * a rule string can set, so the user ends with exactly the rules given.
 * Passwords are hashed as the change is parsed, here and in the text the
 * journal keeps. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "kinds/acl.h"
#include "util/buf.h"
#include "util/misc.h"

/* The body of an acl change: a user and its rules. Passwords in the rules
 * (">secret", "<secret") are replaced by their SHA-256 ("#hash", "!hash"),
 * which Redis takes as the same password, here and in the text the journal
 * keeps: a secret is never stored or printed in clear. */
static int parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		 struct hf_manifest *m)
{
	enum { F_USER, F_RULES, F_CONFIRM, F_N };
	struct hf_field f[F_N] = {
		[F_USER] = { .name = "user", .required = 1 },
		[F_RULES] = { .name = "rules", .required = 1 },
		[F_CONFIRM] = { .name = "confirm" },
	};
	struct hf_acl_spec *as = hf_xcalloc(1, sizeof(*as));
	struct hf_buf rules = {0};
	const char *user, *r, *p;
	size_t i;
	int rc;

	ch->spec = as;
	rc = hf_yaml_walk(y, body->val, body->pos, "'acl'", f, F_N);
	if (rc)
		return rc;
	user = hf_yaml_scalar(y, f[F_USER].val, f[F_USER].pos, "user", "a user name");
	if (!user)
		return HF_EINVAL;
	for (p = user; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-.@", *p))
			break;
	if (!*user || *p)
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_USER].val, f[F_USER].pos),
				    "invalid user name '%s' (expected letters, digits and _-.@)", user);
	for (i = 0; &m->changes[i] != ch; i++)
		if (m->changes[i].kind == ch->kind &&
		    !strcmp(((struct hf_acl_spec *)m->changes[i].spec)->user, user))
			return hf_yaml_fail(y, f[F_USER].pos, "duplicate acl user '%s'", user);
	as->user = hf_xstrdup(user);
	r = hf_yaml_scalar(y, f[F_RULES].val, f[F_RULES].pos, "rules", "a string of ACL rules");
	if (!r)
		return HF_EINVAL;
	if (!*r)
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_RULES].val, f[F_RULES].pos),
				    "'rules' must not be empty");
	if (f[F_CONFIRM].seen && (rc = hf_yaml_bool(y, &f[F_CONFIRM], &as->confirm)))
		return rc;
	for (p = r; *p && !rc;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t");
		if (rules.len)
			hf_buf_puts(&rules, " ");
		if ((*p == '>' || *p == '<') && n > 1) {
			char hash[65], *secret = hf_xstrndup(p, n), *hashed;

			hf_sha256_hex(secret + 1, n - 1, hash);
			hashed = hf_xasprintf("%c%s", *p == '>' ? '#' : '!', hash);
			hf_buf_puts(&rules, hashed);
			/* A secret the text does not spell out plainly could not
			 * be hidden in the journal's copy: refused. */
			if (hf_manifest_redact(m, secret, hashed))
				rc = hf_yaml_fail(y, hf_yaml_pos(y, f[F_RULES].val, f[F_RULES].pos),
						  "write each ACL password plainly in 'rules', as one "
						  "token on one line, with no YAML escapes (it is hashed "
						  "before anything is stored)");
			free(hashed);
			free(secret);
		} else {
			hf_buf_append(&rules, p, n);
		}
		p += n;
	}
	as->rules = hf_buf_detach(&rules);
	return rc;
}

static void spec_free(void *spec)
{
	struct hf_acl_spec *as = spec;

	free(as->user);
	free(as->rules);
	free(as);
}

/* Clears what rules can set, short of 'reset', which would also add the
 * sanitize-payload flag and so not give back a user as it was. */
static const char *const clear[] = {
	"off", "resetpass", "resetkeys", "resetchannels", "-@all", "clearselectors",
};

/* Push the tokens of a rule string; a selector "(...)" is one token. */
static void push_rules(struct hf_argv *a, const char *rules)
{
	const char *p = rules;

	while (*p) {
		const char *start;
		int depth = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		start = p;
		for (; *p; p++) {
			if (*p == '(')
				depth++;
			else if (*p == ')' && depth)
				depth--;
			else if ((*p == ' ' || *p == '\t') && !depth)
				break;
		}
		{
			char *tok = hf_xstrndup(start, (size_t)(p - start));

			hf_argv_push(a, tok);
			free(tok);
		}
	}
}

static void queue_setuser(struct hf_call *call, const char *user, const char *rules)
{
	struct hf_argv *a = hf_call_cmd(call);
	size_t k;

	hf_argv_push(a, "ACL");
	hf_argv_push(a, "SETUSER");
	hf_argv_push(a, user);
	for (k = 0; k < sizeof(clear) / sizeof(clear[0]); k++)
		hf_argv_push(a, clear[k]);
	push_rules(a, rules);
}

static void queue_list(struct hf_call *call)
{
	struct hf_argv *a = hf_call_cmd(call);

	hf_argv_push(a, "ACL");
	hf_argv_push(a, "LIST");
}

/* The user's rules in an ACL LIST reply ("user app on #... ~app:* ..."
 * without "user app "), or NULL when the user does not exist. */
static const char *user_rules(const struct hf_reply *r, const char *user)
{
	size_t i, n = strlen(user);

	if (!r || r->type != HF_REPLY_ARRAY)
		return NULL;
	for (i = 0; i < r->nelem; i++) {
		const char *l = r->elem[i]->str;

		if (l && !strncmp(l, "user ", 5) && !strncmp(l + 5, user, n) && l[5 + n] == ' ')
			return l + 6 + n;
	}
	return NULL;
}

static char *state_json(const char *rules, int has_file)
{
	json_t *j = json_object();
	char *s;

	json_object_set_new(j, "rules", rules ? json_string(rules) : json_null());
	json_object_set_new(j, "config_file", json_boolean(has_file));
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* Does the before-state record an ACL file, which ACL SAVE writes? */
static int has_file(const char *blob)
{
	json_t *j = blob ? json_loads(blob, 0, NULL) : NULL;
	int yes = json_is_true(json_object_get(j, "config_file"));

	json_decref(j);
	return yes;
}

static int needs_persist(const struct hf_change *ch, const struct hf_step *s)
{
	(void)ch;
	return has_file(s->before);
}

/* The rules recorded in a blob; '*absent' when the user did not exist.
 * Returns 0, or -1 when there is no blob. Caller frees '*rules'. */
static int blob_rules(const char *blob, char **rules, int *absent)
{
	json_t *j = blob ? json_loads(blob, 0, NULL) : NULL;
	json_t *r;

	if (!j)
		return -1;
	r = json_object_get(j, "rules");
	*absent = !json_is_string(r);
	*rules = *absent ? NULL : hf_xstrdup(json_string_value(r));
	json_decref(j);
	return 0;
}

/* Would these rules take from hotfix's own user what hotfix needs? Only
 * "on" with all commands and nothing taken away is safe without confirm. */
static int locks_out(const char *rules)
{
	int on = 0, all = 0, minus = 0;
	const char *p = rules;

	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == 2 && !strncmp(p, "on", 2))
			on = 1;
		else if (n == 3 && !strncmp(p, "off", 3))
			on = 0;
		else if ((n == 5 && !strncmp(p, "+@all", 5)) || (n == 11 && !strncmp(p, "allcommands", 11)))
			all = 1, minus = 0;
		else if (n && (*p == '-' || (n == 10 && !strncmp(p, "nocommands", 10))))
			minus = 1;
		p += n;
	}
	return !on || !all || minus;
}

/* Do the rules still let hotfix authenticate as it does now? Applying them
 * resets the user's passwords first, so the one hotfix uses must be among
 * them ("#" and its hash), or "nopass" when it uses none. */
static int keeps_credential(const char *rules, const char *password)
{
	char hash[65], want[80];
	const char *p;
	size_t n;

	if (!password) {
		snprintf(want, sizeof(want), "nopass");
	} else {
		hf_sha256_hex(password, strlen(password), hash);
		snprintf(want, sizeof(want), "#%s", hash);
	}
	n = strlen(want);
	for (p = rules; (p = strstr(p, want)); p += n)
		if ((p == rules || p[-1] == ' ') && (!p[n] || p[n] == ' '))
			return 1;
	return 0;
}

static int plan(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		size_t n, struct hf_err *err)
{
	struct hf_cluster *c = x->c;
	const struct hf_acl_spec *as = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	const char *self = c->uri.user ? c->uri.user : "default";
	size_t i;

	if (!strcmp(as->user, self) && !as->confirm &&
	    (locks_out(as->rules) || !keeps_credential(as->rules, c->uri.password))) {
		hf_kind_calls_free(calls, n);
		return hf_err_set(err, HF_EINVAL, "%d:%d: the rules for user '%s' would take from hotfix's "
				  "own connection permissions it needs to verify and roll back; add "
				  "'confirm: true' to the acl change if that is meant", ch->pos.line,
				  ch->pos.col, as->user);
	}
	for (i = 0; i < n; i++)
		queue_list(&calls[i]);
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		const char *live;

		if (t[i].status)
			continue;
		/* Redis reorders and rewrites rules, so the live line cannot be
		 * compared with the manifest's: every node is a target, and
		 * applying rules a user already has changes nothing. */
		live = user_rules(calls[i].replies[0], as->user);
		hf_target_add_diff(&t[i], "acl user '%s': %s -> %s", as->user,
				   live ? live : "(absent)", as->rules);
	}
	hf_kind_calls_free(calls, n);
	return 0;
}

/* Does the node have an ACL file (CONFIG GET aclfile)? */
static int has_aclfile(const struct hf_reply *r)
{
	return r && r->type == HF_REPLY_ARRAY && r->nelem == 2 && r->elem[1]->str &&
	       r->elem[1]->str[0];
}

static void capture(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	const struct hf_acl_spec *as = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++) {
		queue_list(&calls[i]);
		hf_call_push(&calls[i], "CONFIG", "GET", "aclfile", NULL);
	}
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		if (t[i].status)
			continue;
		free(t[i].step->before);
		t[i].step->before = state_json(user_rules(calls[i].replies[0], as->user),
					       has_aclfile(calls[i].replies[1]));
	}
	hf_kind_calls_free(calls, n);
}

static void apply(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	const struct hf_acl_spec *as = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++) {
		queue_setuser(&calls[i], as->user, as->rules);
		queue_list(&calls[i]);
	}
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		if (t[i].status)
			continue;
		free(t[i].step->after);
		t[i].step->after = state_json(user_rules(calls[i].replies[1], as->user), 0);
	}
	hf_kind_calls_free(calls, n);
}

static void verify(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t,
		   size_t n, enum hf_side side)
{
	struct hf_cluster *c = x->c;
	const struct hf_acl_spec *as = ch->spec;
	struct hf_call *calls = hf_kind_calls_new(t, n);
	size_t i;

	for (i = 0; i < n; i++)
		queue_list(&calls[i]);
	hf_kind_calls_run(c, t, n, calls);
	for (i = 0; i < n; i++) {
		const char *blob = side == HF_SIDE_BEFORE ? t[i].step->before : t[i].step->after;
		const char *live;
		char *want = NULL;
		int absent;

		if (t[i].status)
			continue;
		live = user_rules(calls[i].replies[0], as->user);
		if (blob_rules(blob, &want, &absent))
			/* Nothing recorded: before = never captured, after = the
			 * user exists (the crash came before its line was read). */
			t[i].match = side == HF_SIDE_BEFORE || live != NULL;
		else
			t[i].match = absent ? !live : live && !strcmp(live, want);
		free(want);
	}
	hf_kind_calls_free(calls, n);
}

static void read_live(const struct hf_change *ch, struct hf_call *call)
{
	(void)ch;
	queue_list(call);
}

/* The user's live line against the lines recorded before and after; a
 * missing after-state (a crash before its line was read) is "the user
 * exists". */
static enum hf_held classify(const struct hf_change *ch, const struct hf_step *s,
			     const struct hf_call *live, char *why, size_t len)
{
	const struct hf_acl_spec *as = ch->spec;
	const char *now = user_rules(live->replies[0], as->user);
	char *before = NULL, *after = NULL;
	int babsent = 1, aabsent = 1;
	enum hf_held held;

	blob_rules(s->before, &before, &babsent);
	blob_rules(s->after, &after, &aabsent);
	if (babsent ? !now : now && !strcmp(now, before))
		held = HF_HELD_BEFORE;
	else if (s->after ? (aabsent ? !now : now && !strcmp(now, after)) : now != NULL)
		held = HF_HELD_AFTER;
	else
		held = HF_HELD_OTHER;
	if (held == HF_HELD_OTHER)
		snprintf(why, len, "acl user '%s' changed since the hotfix, left as it is", as->user);
	free(before);
	free(after);
	return held;
}

/* The user as it was: deleted when it did not exist; set from its rules
 * otherwise, on a fresh user when the hotfix added a sanitize flag, which
 * no rule clears once set. */
static int restore(const struct hf_change *ch, const struct hf_step *s, const struct hf_call *live,
		   enum hf_held held, unsigned flags, struct hf_call *call, char *why, size_t len)
{
	int force = !!(flags & HF_REVERT_FORCE);
	const struct hf_acl_spec *as = ch->spec;
	const char *now = user_rules(live->replies[0], as->user);
	char *before = NULL;
	int babsent = 1;

	(void)why, (void)len;
	if (held == HF_HELD_OTHER && !force)
		return 0;   /* one user: nothing of it is the hotfix's alone */
	blob_rules(s->before, &before, &babsent);
	if (babsent || (!strstr(before, "sanitize-payload") && now &&
			strstr(now, "sanitize-payload"))) {
		hf_call_push(call, "ACL", "DELUSER", as->user, NULL);
	}
	if (!babsent) {
		if (call->ncmds) {
			/* A fresh user: its rules alone, nothing to clear. */
			struct hf_argv *a = hf_call_cmd(call);

			hf_argv_push(a, "ACL");
			hf_argv_push(a, "SETUSER");
			hf_argv_push(a, as->user);
			push_rules(a, before);
		} else {
			queue_setuser(call, as->user, before);
		}
	}
	free(before);
	return 0;
}

static void persist(const struct hf_change *ch, struct hf_kind_ctx *x, struct hf_target *t, size_t n)
{
	struct hf_cluster *c = x->c;
	(void)ch;
	hf_kind_send_all(c, t, n, "ACL", "SAVE");
}

const struct hf_change_kind hf_kind_acl = {
	.name = "acl",
	.parse = parse,
	.free = spec_free,
	.plan = plan,
	.capture = capture,
	.apply = apply,
	.verify = verify,
	.revert = hf_kind_revert,
	.read = read_live,
	.classify = classify,
	.restore = restore,
	.needs_persist = needs_persist,
	.persist = persist,
};
