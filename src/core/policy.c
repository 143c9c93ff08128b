/* The governance policy: parsing through the YAML walker (FILE:LINE:COL in
 * every error) and the pure decisions over it (identities, roles, windows
 * in their time zones). No I/O but reading the policy and its key files. */
#include "core/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/yaml.h"
#include "util/buf.h"
#include "util/misc.h"

#define POLICY_MAX_BYTES (1 << 20)
#define ZONEINFO "/usr/share/zoneinfo/"

static const char *const role_names[] = { "viewer", "operator", "approver", "admin", NULL };
static const char *const day_names[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL };

/* ---- parsing -------------------------------------------------------- */

/* Each scalar of the list 'f' (a non-empty list of 'what' named in
 * 'names'), as bits of their indexes into '*bits'. */
static int name_list(struct hf_yaml *y, struct hf_field *f, const char *what,
		     const char *const *names, unsigned flags, unsigned *bits)
{
	struct hf_pos at = hf_yaml_pos(y, f->val, f->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t n;
	int i, rc;

	rc = hf_yaml_seq(y, f, "a list", flags, &n);
	*bits = 0;
	while (!rc && n && (item = fy_node_sequence_iterate(f->val, &it))) {
		struct hf_pos pos = hf_yaml_pos(y, item, at);
		const char *s = hf_yaml_scalar(y, item, pos, f->name, "a name");

		if (!s)
			return HF_EINVAL;
		for (i = 0; names[i] && strcmp(names[i], s); i++)
			;
		if (!names[i])
			return hf_yaml_fail(y, pos, "unknown %s '%s' (expected one of %s, %s, %s, %s%s)",
					    what, s, names[0], names[1], names[2], names[3],
					    names[4] ? ", ..." : "");
		*bits |= 1u << i;
	}
	return rc;
}

static int parse_identity(struct hf_yaml *y, struct fy_node *item, struct hf_pos at,
			  struct hf_policy *pol, struct hf_policy_identity *id)
{
	enum { F_NAME, F_KEY, F_ROLES, F_N };
	struct hf_field f[F_N] = {
		[F_NAME] = { .name = "name", .required = 1 },
		[F_KEY] = { .name = "key", .required = 1 },
		[F_ROLES] = { .name = "roles", .required = 1 },
	};
	struct hf_err kerr = {0};
	char *pem = NULL, *file = NULL;
	size_t len, i;
	int rc;

	rc = hf_yaml_walk(y, item, at, "an identity", f, F_N);
	if (!rc)
		rc = hf_yaml_text(y, &f[F_NAME], &id->name);
	if (!rc)
		rc = name_list(y, &f[F_ROLES], "role", role_names, 0, &id->roles);
	if (!rc)
		rc = hf_yaml_text(y, &f[F_KEY], &file);
	if (!rc)
		rc = hf_yaml_read_file(y, file, hf_yaml_pos(y, f[F_KEY].val, f[F_KEY].pos),
				       "key file", &pem, &len);
	if (!rc && hf_key_from_pem(pem, len, file, &id->key, &kerr))
		rc = hf_yaml_fail(y, hf_yaml_pos(y, f[F_KEY].val, f[F_KEY].pos), "%s", kerr.msg);
	free(pem);
	free(file);
	if (rc)
		return rc;
	hf_key_id(id->key, id->key_id);
	for (i = 0; &pol->ids[i] != id; i++) {
		if (!strcmp(pol->ids[i].name, id->name))
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_NAME].val, f[F_NAME].pos),
					    "identity '%s' is named twice", id->name);
		if (hf_key_same(pol->ids[i].key, id->key))
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_KEY].val, f[F_KEY].pos),
					    "identity '%s' has the key of '%s'", id->name,
					    pol->ids[i].name);
	}
	return 0;
}

/* "HH:MM", 00:00 to 24:00, into minutes; -1 when it is not one. */
static int parse_hhmm(const char *s)
{
	int h, m;

	if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

/* A time zone is a file under /usr/share/zoneinfo, named without '..'. */
static int tz_known(const char *tz)
{
	struct stat st;
	char path[512];

	if (!*tz || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 200)
		return 0;
	snprintf(path, sizeof(path), ZONEINFO "%s", tz);
	return !stat(path, &st) && S_ISREG(st.st_mode);
}

static int parse_time(struct hf_yaml *y, struct hf_field *f, int *out)
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a time like \"09:00\"");

	if (!s)
		return HF_EINVAL;
	if ((*out = parse_hhmm(s)) < 0)
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "invalid time '%s' for '%s' "
				    "(expected HH:MM from 00:00 to 24:00)", s, f->name);
	return 0;
}

static int parse_window(struct hf_yaml *y, struct fy_node *item, struct hf_pos at,
			struct hf_policy_window *w)
{
	enum { F_DAYS, F_FROM, F_TO, F_TZ, F_N };
	struct hf_field f[F_N] = {
		[F_DAYS] = { .name = "days", .required = 1 },
		[F_FROM] = { .name = "from", .required = 1 },
		[F_TO] = { .name = "to", .required = 1 },
		[F_TZ] = { .name = "tz" },
	};
	struct hf_buf b = {0};
	int rc, i;

	rc = hf_yaml_walk(y, item, at, "a window", f, F_N);
	if (!rc)
		rc = name_list(y, &f[F_DAYS], "day", day_names, 0, &w->days);
	if (!rc)
		rc = parse_time(y, &f[F_FROM], &w->from);
	if (!rc)
		rc = parse_time(y, &f[F_TO], &w->to);
	if (!rc && w->from == w->to)
		rc = hf_yaml_fail(y, hf_yaml_pos(y, f[F_TO].val, f[F_TO].pos), "a window from and "
				  "to the same time is empty (00:00 to 24:00 is a whole day)");
	if (!rc && w->from == 1440)
		rc = hf_yaml_fail(y, hf_yaml_pos(y, f[F_FROM].val, f[F_FROM].pos),
				  "a window cannot open at 24:00");
	if (!rc && f[F_TZ].seen)
		rc = hf_yaml_text(y, &f[F_TZ], &w->tz);
	if (!rc && !w->tz)
		w->tz = hf_xstrdup("UTC");
	if (!rc && !tz_known(w->tz))
		rc = hf_yaml_fail(y, hf_yaml_pos(y, f[F_TZ].val, f[F_TZ].pos), "unknown time zone "
				  "'%s' (not in " ZONEINFO ")", w->tz);
	if (rc)
		return rc;
	for (i = 0; i < 7; i++)
		if (w->days >> i & 1)
			hf_buf_printf(&b, "%s%s", b.len ? "," : "", day_names[i]);
	w->text = hf_xasprintf("%s %02d:%02d-%02d:%02d %s", b.s, w->from / 60, w->from % 60,
			       w->to / 60, w->to % 60, w->tz);
	hf_buf_release(&b);
	return 0;
}

/* Call 'one' on each item of list 'f' (not empty unless 'flags' say so),
 * with the item's 1-based index. */
static int each_item(struct hf_yaml *y, struct hf_field *f, unsigned flags, size_t *count,
		     int (*one)(struct hf_yaml *, struct fy_node *, struct hf_pos, size_t, void *),
		     void *ud)
{
	struct hf_pos at = hf_yaml_pos(y, f->val, f->pos);
	struct fy_node *item;
	void *it = NULL;
	size_t i = 0;
	int rc = hf_yaml_seq(y, f, "a list", flags, count);

	while (!rc && *count && i < *count && (item = fy_node_sequence_iterate(f->val, &it))) {
		struct hf_pos pos = hf_yaml_pos(y, item, at);

		if (hf_yaml_is_alias(item) || !fy_node_is_mapping(item))
			return hf_yaml_fail(y, pos, "item %zu of '%s' must be a mapping", i + 1,
					    f->name);
		rc = one(y, item, pos, i++, ud);
	}
	return rc;
}

static int window_item(struct hf_yaml *y, struct fy_node *item, struct hf_pos pos, size_t i,
		       void *ud)
{
	struct hf_policy_cluster *pc = ud;

	pc->nwindows = i + 1;   /* free what was parsed */
	return parse_window(y, item, pos, &pc->windows[i]);
}

static unsigned count_approvers(const struct hf_policy *pol)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < pol->nids; i++)
		n += !!(pol->ids[i].roles & (HF_PROLE_APPROVER | HF_PROLE_ADMIN));
	return n;
}

/* 'require_drill': a duration ("24h", 168h at most) or "none", into
 * '*ms' (0 for none) and 'text' (as written). */
static int parse_drill(struct hf_yaml *y, struct hf_field *f, long long *ms, char text[32])
{
	const char *s = hf_yaml_scalar(y, f->val, f->pos, f->name, "a duration like \"24h\", "
				       "or none");

	if (!s)
		return HF_EINVAL;
	if (!strcmp(s, "none")) {
		*ms = 0;
	} else if (strlen(s) >= 32 || hf_duration_parse(s, ms) || *ms <= 0) {
		return hf_yaml_fail(y, hf_yaml_pos(y, f->val, f->pos), "invalid require_drill '%s' "
				    "(expected a duration from 1ms to 168h, like \"24h\", or none)", s);
	}
	snprintf(text, 32, "%s", s);
	return 0;
}

static int parse_cluster(struct hf_yaml *y, struct fy_node *item, struct hf_pos at,
			 struct hf_policy *pol, struct hf_policy_cluster *pc)
{
	enum { F_MATCH, F_APPROVALS, F_WINDOWS, F_EMERGENCY, F_DRILL, F_N };
	struct hf_field f[F_N] = {
		[F_MATCH] = { .name = "match", .required = 1 },
		[F_APPROVALS] = { .name = "approvals" },
		[F_WINDOWS] = { .name = "windows" },
		[F_EMERGENCY] = { .name = "emergency" },
		[F_DRILL] = { .name = "require_drill" },
	};
	const char *s;
	size_t n;
	long v;
	int rc;

	rc = hf_yaml_walk(y, item, at, "a cluster", f, F_N);
	if (!rc)
		rc = hf_yaml_text(y, &f[F_MATCH], &pc->match);
	if (!rc && f[F_APPROVALS].seen) {
		s = hf_yaml_scalar(y, f[F_APPROVALS].val, f[F_APPROVALS].pos, "approvals",
				   "a number of approvers");
		if (!s)
			return HF_EINVAL;
		if ((strcmp(s, "0") && hf_parse_positive(s, &v)) || (v = atol(s)) > 16)
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_APPROVALS].val, f[F_APPROVALS].pos),
					    "invalid approvals '%s' (expected 0 to 16)", s);
		if ((unsigned)v > count_approvers(pol))
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_APPROVALS].val, f[F_APPROVALS].pos),
					    "approvals: %ld, but only %u identities may approve "
					    "(role approver or admin)", v, count_approvers(pol));
		pc->approvals = (int)v;
	}
	if (!rc && f[F_WINDOWS].seen && !hf_yaml_is_null(f[F_WINDOWS].val)) {
		n = fy_node_is_sequence(f[F_WINDOWS].val) ?
			(size_t)fy_node_sequence_item_count(f[F_WINDOWS].val) : 0;
		pc->windows = hf_xcalloc(n ? n : 1, sizeof(*pc->windows));
		rc = each_item(y, &f[F_WINDOWS], 0, &n, window_item, pc);
	}
	if (!rc && f[F_EMERGENCY].seen)
		rc = name_list(y, &f[F_EMERGENCY], "role", role_names, HF_YAML_EMPTY_OK,
			       &pc->emergency);
	/* The policy's default unless the entry says otherwise ("none" too). */
	pc->require_drill_ms = pol->require_drill_ms;
	snprintf(pc->require_drill, sizeof(pc->require_drill), "%s", pol->require_drill);
	if (!rc && f[F_DRILL].seen)
		rc = parse_drill(y, &f[F_DRILL], &pc->require_drill_ms, pc->require_drill);
	return rc;
}

static int identity_item(struct hf_yaml *y, struct fy_node *item, struct hf_pos pos, size_t i,
			 void *ud)
{
	struct hf_policy *pol = ud;

	pol->nids = i + 1;
	return parse_identity(y, item, pos, pol, &pol->ids[i]);
}

static int cluster_item(struct hf_yaml *y, struct fy_node *item, struct hf_pos pos, size_t i,
			void *ud)
{
	struct hf_policy *pol = ud;

	pol->nclusters = i + 1;
	return parse_cluster(y, item, pos, pol, &pol->clusters[i]);
}

static size_t seq_len(struct fy_node *n)
{
	int c = n && fy_node_is_sequence(n) ? fy_node_sequence_item_count(n) : 0;

	return c > 0 ? (size_t)c : 1;
}

static int parse_root(struct hf_yaml *y, struct fy_node *root, void *ud)
{
	enum { F_API, F_KIND, F_IDS, F_CLUSTERS, F_DRILL, F_N };
	struct hf_field f[F_N] = {
		[F_API] = { .name = "apiVersion", .required = 1 },
		[F_KIND] = { .name = "kind", .required = 1 },
		[F_IDS] = { .name = "identities", .required = 1 },
		[F_CLUSTERS] = { .name = "clusters", .required = 1 },
		[F_DRILL] = { .name = "require_drill" },
	};
	struct hf_pos start = { 1, 1 };
	struct hf_policy *pol = ud;
	const char *s;
	size_t n;
	int rc;

	if (hf_yaml_is_null(root) || !fy_node_is_mapping(root))
		return hf_yaml_fail(y, start, "a policy must be a mapping (apiVersion, kind, "
				    "identities, clusters)");
	rc = hf_yaml_walk(y, root, start, "the policy", f, F_N);
	if (rc)
		return rc;
	s = hf_yaml_scalar(y, f[F_API].val, f[F_API].pos, "apiVersion", "'hotfix/v1'");
	if (s && strcmp(s, "hotfix/v1"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_API].val, f[F_API].pos),
				    "unsupported apiVersion '%s' (expected 'hotfix/v1')", s);
	if (s)
		s = hf_yaml_scalar(y, f[F_KIND].val, f[F_KIND].pos, "kind", "'Policy'");
	if (s && strcmp(s, "Policy"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_KIND].val, f[F_KIND].pos),
				    "unsupported kind '%s' (expected 'Policy')", s);
	if (!s)
		return HF_EINVAL;
	snprintf(pol->require_drill, sizeof(pol->require_drill), "none");
	if (f[F_DRILL].seen && (rc = parse_drill(y, &f[F_DRILL], &pol->require_drill_ms,
						 pol->require_drill)))
		return rc;
	pol->ids = hf_xcalloc(seq_len(f[F_IDS].val), sizeof(*pol->ids));
	rc = each_item(y, &f[F_IDS], 0, &n, identity_item, pol);
	if (rc)
		return rc;
	pol->clusters = hf_xcalloc(seq_len(f[F_CLUSTERS].val), sizeof(*pol->clusters));
	return each_item(y, &f[F_CLUSTERS], 0, &n, cluster_item, pol);
}

int hf_policy_parse(const char *path, const char *text, size_t len, struct hf_policy **out,
		    struct hf_err *err)
{
	char *copy = hf_xmalloc(len + 1);
	struct hf_yaml y = { .path = path, .err = err, .text = copy, .len = len };
	struct hf_policy *pol = hf_xcalloc(1, sizeof(*pol));
	int rc;

	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';
	pol->path = hf_xstrdup(path);
	hf_sha256_hex(copy, len, pol->sha256);
	rc = hf_yaml_parse(&y, parse_root, pol);
	free(copy);
	if (rc) {
		hf_policy_free(pol);
		return rc;
	}
	*out = pol;
	return 0;
}

int hf_policy_load(const char *path, struct hf_policy **out, struct hf_err *err)
{
	FILE *f = fopen(path, "rb");
	struct hf_buf buf = {0};
	char chunk[8192];
	size_t n;
	int rc;

	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read policy '%s': %s", path,
				  strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf.len + n <= POLICY_MAX_BYTES)
		hf_buf_append(&buf, chunk, n);
	rc = n || ferror(f) ? hf_err_set(err, HF_EINVAL, "cannot read policy '%s': %s", path,
					 n ? "larger than 1 MiB" : strerror(errno)) : 0;
	fclose(f);
	if (!rc)
		rc = hf_policy_parse(path, buf.s ? buf.s : "", buf.len, out, err);
	hf_buf_release(&buf);
	return rc;
}

void hf_policy_free(struct hf_policy *pol)
{
	size_t i, k;

	if (!pol)
		return;
	for (i = 0; i < pol->nids; i++) {
		free(pol->ids[i].name);
		hf_key_free(pol->ids[i].key);
	}
	for (i = 0; i < pol->nclusters; i++) {
		for (k = 0; k < pol->clusters[i].nwindows; k++) {
			free(pol->clusters[i].windows[k].tz);
			free(pol->clusters[i].windows[k].text);
		}
		free(pol->clusters[i].windows);
		free(pol->clusters[i].match);
	}
	free(pol->ids);
	free(pol->clusters);
	free(pol->path);
	free(pol);
}

/* ---- identities and roles ------------------------------------------- */

const struct hf_policy_identity *hf_policy_identity_of(const struct hf_policy *pol,
						       const struct hf_key *k)
{
	size_t i;

	for (i = 0; pol && k && i < pol->nids; i++)
		if (hf_key_same(pol->ids[i].key, k))
			return &pol->ids[i];
	return NULL;
}

const struct hf_policy_identity *hf_policy_identity_named(const struct hf_policy *pol,
							  const char *name)
{
	size_t i;

	for (i = 0; pol && name && i < pol->nids; i++)
		if (!strcmp(pol->ids[i].name, name))
			return &pol->ids[i];
	return NULL;
}

const struct hf_policy_cluster *hf_policy_cluster_for(const struct hf_policy *pol,
						      const char *uri)
{
	const char *at = strchr(uri, '@'), *scheme = strstr(uri, "://");
	char bare[512];
	size_t i;

	/* "redis://user:pass@host:port" is matched as "redis://host:port". */
	if (at && scheme && at > scheme)
		snprintf(bare, sizeof(bare), "%.*s%s", (int)(scheme + 3 - uri), uri, at + 1);
	else if (!scheme)
		snprintf(bare, sizeof(bare), "redis://%s", at ? at + 1 : uri);
	else
		snprintf(bare, sizeof(bare), "%s", uri);
	for (i = 0; pol && i < pol->nclusters; i++)
		if (!fnmatch(pol->clusters[i].match, bare, 0))
			return &pol->clusters[i];
	return NULL;
}

unsigned hf_policy_roles_for(enum hf_policy_action a, const struct hf_policy_cluster *pc)
{
	const unsigned any = HF_PROLE_VIEWER | HF_PROLE_OPERATOR | HF_PROLE_APPROVER | HF_PROLE_ADMIN;

	switch (a) {
	case HF_ACT_PLAN:
	case HF_ACT_ROLLBACK:
		return any;
	case HF_ACT_APPLY:
		return HF_PROLE_OPERATOR | HF_PROLE_ADMIN;
	case HF_ACT_APPROVE:
		return HF_PROLE_APPROVER | HF_PROLE_ADMIN;
	case HF_ACT_EMERGENCY:
		return pc ? pc->emergency : 0;
	}
	return 0;
}

int hf_policy_allows(unsigned roles, enum hf_policy_action a, const struct hf_policy_cluster *pc)
{
	return (roles & hf_policy_roles_for(a, pc)) != 0;
}

const char *hf_policy_roles_text(unsigned roles, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; role_names[i]; i++)
		if (roles >> i & 1 && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						role_names[i]);
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}

/* ---- windows -------------------------------------------------------- */

/* localtime_r and mktime read TZ: one time zone at a time in this process,
 * restored afterwards. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static char *tz_enter(const char *tz)
{
	const char *old = getenv("TZ");
	char *saved = old ? hf_xstrdup(old) : NULL;

	pthread_mutex_lock(&tz_lock);
	setenv("TZ", tz, 1);
	tzset();
	return saved;
}

static void tz_leave(char *saved)
{
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	pthread_mutex_unlock(&tz_lock);
	free(saved);
}

/* Is 'w' open at local time 'tm'? A window opens on its days; one that
 * spans midnight goes on into the next day. */
static int open_at(const struct hf_policy_window *w, const struct tm *tm)
{
	int m = tm->tm_hour * 60 + tm->tm_min;
	int wd = (tm->tm_wday + 6) % 7, yd = (wd + 6) % 7;

	if (w->from < w->to)
		return (w->days >> wd & 1) && m >= w->from && m < w->to;
	return ((w->days >> wd & 1) && m >= w->from) || ((w->days >> yd & 1) && m < w->to);
}

/* With the window's zone entered: is it open at 't'? */
static int open_now(const struct hf_policy_window *w, time_t t)
{
	struct tm tm;

	return localtime_r(&t, &tm) && open_at(w, &tm);
}

/* With the window's zone entered: its next opening at or after 't', or -1
 * within eight days. Openings are tried at 'from' on each local day; a
 * 'from' that falls into a DST gap is moved on by mktime, and kept only
 * when the window is open then. */
static long long next_of(const struct hf_policy_window *w, time_t t)
{
	struct tm now, tm;
	int d;

	if (open_now(w, t))
		return (long long)t;
	if (!localtime_r(&t, &now))
		return -1;
	for (d = 0; d <= 8; d++) {
		time_t c;

		tm = now;
		tm.tm_mday += d;
		tm.tm_hour = w->from / 60;
		tm.tm_min = w->from % 60;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		c = mktime(&tm);
		if (c != (time_t)-1 && c > t && open_now(w, c))
			return (long long)c;
	}
	return -1;
}

int hf_policy_window_open(const struct hf_policy_cluster *pc, long long t,
			  const struct hf_policy_window **which)
{
	size_t i;
	int open = 0;

	if (which)
		*which = NULL;
	if (!pc || !pc->nwindows)
		return 1;
	for (i = 0; !open && i < pc->nwindows; i++) {
		char *saved = tz_enter(pc->windows[i].tz);

		open = open_now(&pc->windows[i], (time_t)t);
		tz_leave(saved);
		if (open && which)
			*which = &pc->windows[i];
	}
	return open;
}

long long hf_policy_next_open(const struct hf_policy_cluster *pc, long long t,
			      const struct hf_policy_window **which)
{
	long long best = -1;
	size_t i;

	if (which)
		*which = NULL;
	if (!pc || !pc->nwindows)
		return t;
	for (i = 0; i < pc->nwindows; i++) {
		char *saved = tz_enter(pc->windows[i].tz);
		long long c = next_of(&pc->windows[i], (time_t)t);

		tz_leave(saved);
		if (c >= 0 && (best < 0 || c < best)) {
			best = c;
			if (which)
				*which = &pc->windows[i];
		}
	}
	return best;
}

void hf_policy_fmt_local(long long t, const char *tz, char *out, size_t len)
{
	char *saved = tz_enter(tz ? tz : "UTC");
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(out, len, "%a %Y-%m-%d %H:%M %Z", &tm))
		snprintf(out, len, "@%lld", t);
	tz_leave(saved);
}

long long hf_policy_now(void)
{
	const char *hook = getenv("HOTFIX_POLICY_NOW");
	char buf[64] = "";
	FILE *f;

	if (!hook || !*hook)
		return (long long)time(NULL);
	if (isdigit((unsigned char)hook[0]))
		return atoll(hook);
	f = fopen(hook, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return isdigit((unsigned char)buf[0]) ? atoll(buf) : (long long)time(NULL);
}

/* ---- the drill gate -------------------------------------------------- */

enum hf_policy_drill hf_policy_drill_verdict(long long bound_ms, int found, int passed,
					     long long age_ms)
{
	if (bound_ms <= 0)
		return HF_DRILL_OK;
	if (!found)
		return HF_DRILL_NEVER;
	if (!passed)
		return HF_DRILL_FAILED;
	return age_ms > bound_ms ? HF_DRILL_TOO_OLD : HF_DRILL_OK;
}

/* ---- the actor ------------------------------------------------------ */

void hf_policy_actor_set(struct hf_policy_actor *a, const struct hf_policy_identity *id)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->os_user, sizeof(a->os_user), "%s", hf_operator());
	if (!id)
		return;
	snprintf(a->name, sizeof(a->name), "%s", id->name);
	hf_policy_roles_text(id->roles, a->roles, sizeof(a->roles));
	snprintf(a->key_id, sizeof(a->key_id), "%s", id->key_id);
}

const char *hf_policy_actor_text(const struct hf_policy_actor *a, char *buf, size_t len)
{
	if (a->name[0])
		snprintf(buf, len, "%s (%s; key %s; os user %s)", a->name, a->roles, a->key_id,
			 a->os_user);
	else
		snprintf(buf, len, "os user %s (no policy identity)", a->os_user);
	return buf;
}
