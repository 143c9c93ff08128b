/* URIs, replies, command vectors and single connections to Redis nodes.
 * The fan-out lives in fanout.c, the topology in topology.c. */
#include "engine/redis/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"

void hf_tls_release(struct hf_tls *t)
{
	free(t->cacert);
	free(t->cert);
	free(t->key);
	free(t->sni);
	free(t->sessions);
	memset(t, 0, sizeof(*t));
}

static char *dup_or_null(const char *s)
{
	return s ? hf_xstrdup(s) : NULL;
}

void hf_tls_copy(struct hf_tls *dst, const struct hf_tls *src)
{
	dst->cacert = dup_or_null(src->cacert);
	dst->cert = dup_or_null(src->cert);
	dst->key = dup_or_null(src->key);
	dst->sni = dup_or_null(src->sni);
	dst->insecure = src->insecure;
	dst->sessions = dup_or_null(src->sessions);
}

void hf_uri_release(struct hf_uri *u)
{
	free(u->inventory);
	free(u->user);
	free(u->password);
	free(u->host);
	hf_tls_release(&u->tlsopt);
	memset(u, 0, sizeof(*u));
}

void hf_uri_copy(struct hf_uri *dst, const struct hf_uri *src)
{
	dst->user = dup_or_null(src->user);
	dst->password = dup_or_null(src->password);
	dst->host = hf_xstrdup(src->host);
	dst->inventory = dup_or_null(src->inventory);
	dst->port = src->port;
	dst->tls = src->tls;
	dst->password_from = src->password_from;
	hf_tls_copy(&dst->tlsopt, &src->tlsopt);
}

/* The command line's TLS settings (hf_uri_tls_defaults()). */
static struct hf_tls tls_defaults;

void hf_uri_tls_defaults(const struct hf_tls *t)
{
	hf_tls_release(&tls_defaults);
	if (t)
		hf_tls_copy(&tls_defaults, t);
}

/* A TLS setting: the command line's, else the environment's, else NULL. */
static char *tls_setting(const char *given, const char *env)
{
	const char *e = getenv(env);

	if (given && *given)
		return hf_xstrdup(given);
	return e && *e ? hf_xstrdup(e) : NULL;
}

static void tls_settings(struct hf_tls *t)
{
	const char *insecure = getenv("HOTFIX_TLS_INSECURE");

	t->cacert = tls_setting(tls_defaults.cacert, "HOTFIX_TLS_CACERT");
	t->cert = tls_setting(tls_defaults.cert, "HOTFIX_TLS_CERT");
	t->key = tls_setting(tls_defaults.key, "HOTFIX_TLS_KEY");
	t->sni = tls_setting(tls_defaults.sni, "HOTFIX_TLS_SNI");
	t->insecure = tls_defaults.insecure || (insecure && !strcmp(insecure, "1"));
	t->sessions = tls_defaults.sessions ? hf_xstrdup(tls_defaults.sessions) : NULL;
}

/* The command line's password (hf_uri_password_default()). */
static char *password_default;
static const char *password_default_from;

void hf_uri_password_default(const char *password, const char *from)
{
	if (password_default)
		memset(password_default, 0, strlen(password_default));
	free(password_default);
	password_default = password ? hf_xstrdup(password) : NULL;
	password_default_from = password ? from : NULL;
}

/* A URI without a password takes the command line's, else the
 * environment's: HOTFIX_PASSWORD, then redis-cli's REDISCLI_AUTH. */
static void password_settings(struct hf_uri *u)
{
	static const char *const vars[] = { "HOTFIX_PASSWORD", "REDISCLI_AUTH" };
	size_t i;

	if (u->password) {
		u->password_from = "the URI";
		return;
	}
	if (password_default) {
		u->password = hf_xstrdup(password_default);
		u->password_from = password_default_from;
		return;
	}
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *e = getenv(vars[i]);

		if (e && *e) {
			u->password = hf_xstrdup(e);
			u->password_from = vars[i];
			return;
		}
	}
}

int hf_password_file_read(const char *path, char **out, int *loose, struct hf_err *err)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	*loose = 0;
	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read the password file %s: %s", path,
				  strerror(errno));
	if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && (st.st_mode & 077))
		*loose = 1;
	errno = 0;
	n = getline(&line, &cap, f);
	if (n < 0 && errno) {
		int e = errno;

		fclose(f);
		free(line);
		return hf_err_set(err, HF_EINVAL, "cannot read the password file %s: %s", path,
				  strerror(e));
	}
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n <= 0 || memchr(line, '\0', (size_t)n)) {
		if (line)
			memset(line, 0, cap);
		free(line);
		return hf_err_set(err, HF_EINVAL, "the password file %s holds no password on its "
				  "first line", path);
	}
	*out = line;
	return 0;
}

int hf_auth_error(const char *addr, const char *reply, const struct hf_uri *u, struct hf_err *err)
{
	const char *from = u && u->password ? u->password_from : NULL;

	if (!reply)
		return 0;
	if (!strncmp(reply, "NOAUTH", 6)) {
		hf_err_set(err, HF_ERR, "%s needs a password (NOAUTH): give it with --password-file "
			   "FILE, HOTFIX_PASSWORD or REDISCLI_AUTH", addr);
		return 1;
	}
	if (!strncmp(reply, "WRONGPASS", 9) || strstr(reply, "invalid username-password pair") ||
	    strstr(reply, "invalid password")) {
		hf_err_set(err, HF_ERR, "wrong password for %s (%s%s%s): check --password-file / "
			   "HOTFIX_PASSWORD / REDISCLI_AUTH%s", addr,
			   !strncmp(reply, "WRONGPASS", 9) ? "WRONGPASS" : "refused",
			   from ? ", the password of " : "", from ? from : "",
			   u && u->user ? " and the user in the URI" : "");
		return 1;
	}
	return 0;
}

/* Decode %XX escapes, so passwords with '@' or ':' can be written. */
static char *unescape(const char *s, size_t n)
{
	char *out = hf_xmalloc(n + 1);
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };

			/* A NUL would cut the value short, silently. */
			if (!(out[j++] = (char)strtol(hex, NULL, 16))) {
				free(out);
				return NULL;
			}
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

/* Take "user:pass@" off the front of '*p', into 'u'; -1 when one holds an
 * escaped NUL. */
static int parse_userinfo(const char **p, struct hf_uri *u)
{
	const char *at = strrchr(*p, '@'), *sep;

	if (!at)
		return 0;
	sep = memchr(*p, ':', (size_t)(at - *p));
	if (sep) {
		if (sep > *p && !(u->user = unescape(*p, (size_t)(sep - *p))))
			return -1;
		if (!(u->password = unescape(sep + 1, (size_t)(at - sep - 1))))
			return -1;
	} else if (at > *p && !(u->user = unescape(*p, (size_t)(at - *p)))) {
		return -1;
	}
	*p = at + 1;
	return 0;
}

/* Is the 'n' bytes at 's' an IPv6 address, with a zone ("%25lo", kept as
 * written) or not: what may stand in brackets? */
static int v6_literal(const char *s, size_t n)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN];
	const char *zone = memchr(s, '%', n);
	size_t i;

	if (zone) {
		if (zone + 3 >= s + n || strncmp(zone, "%25", 3))
			return 0;
		for (i = 3; zone + i < s + n; i++)
			if (!isalnum((unsigned char)zone[i]) && !strchr("._~-", zone[i]))
				return 0;
		n = (size_t)(zone - s);
	}
	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Parse "host[:port]" or "[v6]:port" (up to 'hostend') into 'u'. */
static int parse_hostport(const char *p, const char *hostend, struct hf_uri *u,
			  struct hf_err *err)
{
	const char *h = p, *he, *colon;
	char *end;
	long port = 6379;

	if (*p == '[') {
		h = p + 1;
		he = memchr(h, ']', (size_t)(hostend - h));
		if (!he)
			return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: no ']' after the "
					  "IPv6 address in '%.*s'", (int)(hostend - p), p);
		if (!v6_literal(h, (size_t)(he - h)))
			return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: '%.*s' in brackets "
					  "is no IPv6 address", (int)(he - h), h);
		colon = he + 1 < hostend ? he + 1 : hostend;
		if (colon < hostend && *colon != ':')
			return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: bad port in '%.*s'",
					  (int)(hostend - p), p);
	} else {
		colon = memchr(p, ':', (size_t)(hostend - p));
		he = colon ? colon : hostend;
	}
	if (colon && colon < hostend) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || end != hostend || port <= 0 || port > 65535)
			return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: bad port in '%.*s'%s",
					  (int)(hostend - p), p,
					  *p != '[' && memchr(colon + 1, ':', (size_t)(hostend - colon - 1)) ?
					  " (write an IPv6 address in brackets: [::1]:7000)" : "");
	}
	if (he == h)
		return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: no host");
	u->host = hf_xstrndup(h, (size_t)(he - h));
	u->port = (int)port;
	return 0;
}

int hf_uri_has_password(const char *s)
{
	struct hf_uri u = {0};
	const char *p = s;
	int has;

	if (!strncmp(p, "rediss://", 9))
		p += 9;
	else if (!strncmp(p, "redis://", 8))
		p += 8;
	if (parse_userinfo(&p, &u)) {
		hf_uri_release(&u);
		return 0;
	}
	has = u.password != NULL;
	hf_uri_release(&u);
	return has;
}

int hf_uri_parse(const char *s, struct hf_uri *out, struct hf_err *err)
{
	struct hf_uri u = {0};
	const char *p = s;
	int rc;

	if (!s || !*s)
		return hf_err_set(err, HF_EINVAL, "no cluster given (use --cluster redis://host:port)");
	if (!strncmp(p, "exec:", 5)) {
		if (!p[5])
			return hf_err_set(err, HF_EINVAL, "cannot use cluster 'exec:': it names no "
					  "inventory file (exec:FILE)");
		/* Absolute: the journal keeps it for a resume from elsewhere. */
		u.inventory = realpath(p + 5, NULL);
		if (!u.inventory)
			u.inventory = hf_xstrdup(p + 5);
		u.host = hf_xstrdup("exec");
		*out = u;
		return 0;
	}
	if (!strncmp(p, "rediss://", 9)) {
		u.tls = 1;
		p += 9;
	} else if (!strncmp(p, "redis://", 8)) {
		p += 8;
	} else if (strstr(p, "://")) {
		return hf_err_set(err, HF_EINVAL, "cannot use a '%.*s://' URI: only redis:// and "
				  "rediss:// URIs are supported", (int)(strstr(p, "://") - p), p);
	}
	if (parse_userinfo(&p, &u))
		rc = hf_err_set(err, HF_EINVAL, "cannot use cluster URI: an escaped NUL (%%00) in "
				"its user or password");
	else
		rc = parse_hostport(p, p + strcspn(p, "/?"), &u, err);
	if (rc) {
		hf_uri_release(&u);
		return rc;
	}
	password_settings(&u);
	if (u.tls)
		tls_settings(&u.tlsopt);
	*out = u;
	return 0;
}

char *hf_uri_redacted(const struct hf_uri *u)
{
	const char *scheme = u->tls ? "rediss" : "redis";
	int v6 = strchr(u->host, ':') != NULL;

	if (u->inventory)
		return hf_xasprintf("exec:%s", u->inventory);
	return hf_xasprintf("%s://%s%s%s%s%s:%d", scheme, u->user ? u->user : "", u->user ? "@" : "",
			    v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
}

/* ---- argv ---------------------------------------------------------- */

static void push(struct hf_argv *a, char *s, size_t len)
{
	a->argv = hf_xrealloc(a->argv, sizeof(*a->argv) * (size_t)(a->argc + 1));
	a->len = hf_xrealloc(a->len, sizeof(*a->len) * (size_t)(a->argc + 1));
	a->argv[a->argc] = s;
	a->len[a->argc] = len;
	a->argc++;
}

void hf_argv_push(struct hf_argv *a, const char *s)
{
	push(a, hf_xstrdup(s), strlen(s));
}

void hf_argv_pushb(struct hf_argv *a, const void *data, size_t len)
{
	char *copy = hf_xmalloc(len + 1);

	memcpy(copy, data, len);
	copy[len] = '\0';
	push(a, copy, len);
}

void hf_argv_pushf(struct hf_argv *a, const char *fmt, ...)
{
	struct hf_buf b = {0};
	va_list ap;
	char tmp[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < (int)sizeof(tmp)) {
		hf_argv_push(a, tmp);
		return;
	}
	b.s = hf_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b.s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	push(a, b.s, (size_t)n);
}

void hf_argv_release(struct hf_argv *a)
{
	int i;

	for (i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

/* ---- replies ------------------------------------------------------- */

void hf_reply_free(struct hf_reply *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nelem; i++)
		hf_reply_free(r->elem[i]);
	free(r->elem);
	free(r->str);
	free(r);
}

struct hf_reply *hf_reply_from_hiredis(const redisReply *rr)
{
	struct hf_reply *r = hf_xcalloc(1, sizeof(*r));
	size_t i;

	switch (rr->type) {
	case REDIS_REPLY_STRING:
		r->type = HF_REPLY_STRING;
		break;
	case REDIS_REPLY_STATUS:
		r->type = HF_REPLY_STATUS;
		break;
	case REDIS_REPLY_ERROR:
		r->type = HF_REPLY_ERROR;
		break;
	case REDIS_REPLY_INTEGER:
		r->type = HF_REPLY_INTEGER;
		r->integer = rr->integer;
		break;
	case REDIS_REPLY_ARRAY:
		r->type = HF_REPLY_ARRAY;
		r->nelem = rr->elements;
		r->elem = hf_xcalloc(rr->elements, sizeof(*r->elem));
		for (i = 0; i < rr->elements; i++)
			r->elem[i] = hf_reply_from_hiredis(rr->element[i]);
		break;
	default:
		r->type = HF_REPLY_NIL;
		break;
	}
	if (r->type == HF_REPLY_STRING || r->type == HF_REPLY_STATUS || r->type == HF_REPLY_ERROR) {
		r->str = hf_xstrndup(rr->str, rr->len);
		r->len = rr->len;
	}
	return r;
}

int hf_host_is_loopback(const char *host, size_t len)
{
	return (len == 9 && !strncmp(host, "localhost", 9)) || (len >= 4 && !strncmp(host, "127.", 4)) ||
	       (len == 3 && !strncmp(host, "::1", 3));
}

int hf_info_field(const char *info, const char *field, char *out, size_t outlen)
{
	size_t n = strlen(field);
	const char *p = info;

	while (p && *p) {
		if (!strncmp(p, field, n) && p[n] == ':') {
			const char *v = p + n + 1;
			size_t len = strcspn(v, "\r\n");

			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* The value of 'key=' in a "k=v,k=v" list, copied into 'out'; 0 when found. */
static int list_field(const char *line, const char *key, char *out, size_t outlen)
{
	size_t n = strlen(key);
	const char *p = line;

	while (p && *p) {
		if (!strncmp(p, key, n) && p[n] == '=') {
			size_t len = strcspn(p + n + 1, ",\r\n");

			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			return 0;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return -1;
}

size_t hf_info_replicas(const char *info, struct hf_info_replica *out, size_t max)
{
	size_t found = 0;
	int i;

	for (i = 0;; i++) {
		char field[32], line[512], v[64];
		struct hf_info_replica r;

		snprintf(field, sizeof(field), "slave%d", i);
		if (hf_info_field(info, field, line, sizeof(line)))
			break;
		memset(&r, 0, sizeof(r));
		/* Keys matched whole, so "ip=" is never found inside another key. */
		if (list_field(line, "ip", r.ip, sizeof(r.ip)) || list_field(line, "port", v, sizeof(v)))
			continue;
		r.port = atoi(v);
		list_field(line, "state", r.state, sizeof(r.state));
		if (!list_field(line, "offset", v, sizeof(v)))
			r.offset = atoll(v);
		if (!list_field(line, "lag", v, sizeof(v)))
			r.lag_s = atoll(v);
		if (found < max)
			out[found] = r;
		found++;
	}
	return found;
}

/* ---- single commands ----------------------------------------------- */

int hf_redis_command(const struct hf_uri *via, const char *host, int port, long timeout_ms,
		     const struct hf_argv *cmd, struct hf_reply **out, struct hf_err *err)
{
	struct hf_conn *c = NULL;
	redisReply *r = NULL;
	int rc = hf_conn_open(via, host, port, timeout_ms, &c, err);

	if (rc)
		return rc;
	if (hf_conn_command(c, cmd, timeout_ms, &r)) {
		rc = hf_err_set(err, HF_EUNREACH, "%s did not answer '%s': %s", hf_conn_addr(c),
				cmd->argc ? cmd->argv[0] : "", hf_conn_error(c));
		hf_conn_close(c);
		return rc;
	}
	*out = hf_reply_from_hiredis(r);
	freeReplyObject(r);
	hf_conn_close(c);
	return 0;
}
