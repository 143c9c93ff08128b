/* URIs, replies, command vectors and single connections to Redis nodes.
 * The fan-out lives in fanout.c, the topology in topology.c. */
#include "engine/redis/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

void hf_uri_release(struct hf_uri *u)
{
	free(u->user);
	free(u->password);
	free(u->host);
	memset(u, 0, sizeof(*u));
}

void hf_uri_copy(struct hf_uri *dst, const struct hf_uri *src)
{
	dst->user = src->user ? hf_xstrdup(src->user) : NULL;
	dst->password = src->password ? hf_xstrdup(src->password) : NULL;
	dst->host = hf_xstrdup(src->host);
	dst->port = src->port;
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

			out[j++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

int hf_uri_parse(const char *s, struct hf_uri *out, struct hf_err *err)
{
	struct hf_uri u = {0};
	const char *p = s, *at, *hostend, *colon;
	char *end;
	long port = 6379;

	if (!s || !*s)
		return hf_err_set(err, HF_EINVAL, "no cluster given (use --cluster redis://host:port)");
	if (!strncmp(p, "rediss://", 9))
		return hf_err_set(err, HF_EINVAL, "cannot use '%s': TLS (rediss://) is not supported by this build yet", s);
	if (!strncmp(p, "redis://", 8))
		p += 8;
	else if (strstr(p, "://"))
		return hf_err_set(err, HF_EINVAL, "cannot use '%s': only redis:// URIs are supported", s);

	at = strrchr(p, '@');
	if (at) {
		const char *sep = memchr(p, ':', (size_t)(at - p));

		if (sep) {
			if (sep > p)
				u.user = unescape(p, (size_t)(sep - p));
			u.password = unescape(sep + 1, (size_t)(at - sep - 1));
		} else if (at > p) {
			u.user = unescape(p, (size_t)(at - p));
		}
		p = at + 1;
	}
	hostend = p + strcspn(p, "/?");
	colon = memchr(p, ':', (size_t)(hostend - p));
	if (colon) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || end != hostend || port <= 0 || port > 65535) {
			hf_uri_release(&u);
			return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: bad port in '%.*s'",
					  (int)(hostend - p), p);
		}
	} else {
		colon = hostend;
	}
	if (colon == p) {
		hf_uri_release(&u);
		return hf_err_set(err, HF_EINVAL, "cannot use cluster URI: no host");
	}
	u.host = hf_xstrndup(p, (size_t)(colon - p));
	u.port = (int)port;
	if (!u.password && getenv("HOTFIX_PASSWORD") && *getenv("HOTFIX_PASSWORD"))
		u.password = hf_xstrdup(getenv("HOTFIX_PASSWORD"));
	*out = u;
	return 0;
}

char *hf_uri_redacted(const struct hf_uri *u)
{
	if (u->user)
		return hf_xasprintf("redis://%s@%s:%d", u->user, u->host, u->port);
	return hf_xasprintf("redis://%s:%d", u->host, u->port);
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

/* ---- connections --------------------------------------------------- */

static struct timeval tv_of(long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

redisContext *hf_redis_connect(const char *host, int port, const char *user,
			       const char *password, long timeout_ms, struct hf_err *err)
{
	redisContext *c = redisConnectWithTimeout(host, port, tv_of(timeout_ms));
	redisReply *r;

	hf_reply_bound(c);
	if (!c || c->err) {
		hf_err_set(err, HF_EUNREACH, "cannot connect to %s:%d: %s", host, port,
			   c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv_of(timeout_ms));
	redisEnableKeepAlive(c);
	if (!password)
		return c;
	if (user)
		r = redisCommand(c, "AUTH %s %s", user, password);
	else
		r = redisCommand(c, "AUTH %s", password);
	if (!r) {
		hf_err_set(err, HF_EUNREACH, "%s:%d did not answer AUTH: %s", host, port, c->errstr);
		redisFree(c);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* The server's message never contains the password. */
		hf_err_set(err, HF_ERR, "authentication to %s:%d failed: %s", host, port, r->str);
		freeReplyObject(r);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(r);
	return c;
}

int hf_redis_command(const char *host, int port, const char *user,
		     const char *password, long timeout_ms,
		     const struct hf_argv *cmd, struct hf_reply **out,
		     struct hf_err *err)
{
	redisContext *c = hf_redis_connect(host, port, user, password, timeout_ms, err);
	redisReply *r;

	if (!c)
		return err ? err->code : HF_EUNREACH;
	r = redisCommandArgv(c, cmd->argc, (const char **)cmd->argv, cmd->len);
	if (!r) {
		int rc = hf_err_set(err, HF_EUNREACH, "%s:%d did not answer '%s': %s", host, port,
				    cmd->argc ? cmd->argv[0] : "", c->errstr);
		redisFree(c);
		return rc;
	}
	*out = hf_reply_from_hiredis(r);
	freeReplyObject(r);
	redisFree(c);
	return 0;
}
