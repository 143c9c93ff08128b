/* Connections to Redis nodes: a non-blocking socket (IPv4 or IPv6), TLS
 * through OpenSSL for rediss:// URIs, and hiredis' reply reader for RESP.
 * hiredis 0.14 has no TLS and its redisContext reads its socket itself, so
 * plain TCP goes through the same code: one path for both. The blocking
 * helpers here serve single commands; the fan-out (fanout.c) drives the
 * non-blocking steps from its own poll() loop. */
#include "engine/redis/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util/buf.h"
#include "util/misc.h"

struct hf_conn {
	int fd;
	SSL *ssl;              /* NULL for plain TCP */
	redisReader *reader;
	char *out;             /* formatted commands not yet written */
	size_t outlen, outpos;
	int want_write;        /* TLS: the last read needs the socket writable */
	int eof;               /* the server closed; replies fed before stay readable */
	int answered;          /* a byte came back since the connection opened */
	char addr[300];        /* "host:port", or "[v6]:port" */
	char errstr[512];
	/* While it is being opened (hf_conn_start(), hf_conn_advance()): */
	int state;             /* OPEN_* */
	short events;          /* what the current step waits for */
	char *host;
	struct addrinfo *res, *ai;   /* the addresses, the one being tried */
	int err_no;            /* the last address's connect error */
};

/* The steps of opening a connection: connect, TLS handshake, AUTH, each
 * taken when its socket is ready, so that many open at once. */
enum { OPEN_CONNECT, OPEN_TLS, OPEN_AUTH, OPEN_DONE };

/* As hf_xmalloc() does when memory runs out. */
static _Noreturn void oom(void)
{
	fputs("hotfix: out of memory\n", stderr);
	abort();
}

/* ---- TLS contexts -------------------------------------------------- */

/* One SSL_CTX per distinct setting, made on first use and kept for the
 * life of the process: loading a CA file per connection would cost more
 * than the handshake. The flag library may connect from its thread. */
struct ctx_entry {
	char *key;
	SSL_CTX *ctx;
};
static struct ctx_entry *ctxs;
static size_t nctxs;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

/* The reason of OpenSSL's last error, or 'dflt'. */
static const char *ssl_reason(char *buf, size_t len, const char *dflt)
{
	unsigned long e = ERR_get_error();
	const char *r;

	ERR_clear_error();
	if (!e) {
		snprintf(buf, len, "%s", dflt);
		return buf;
	}
	r = ERR_reason_error_string(e);
	if (r)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
	return buf;
}

/* Make an SSL_CTX for 't': verification on unless t->insecure, the CA
 * file (else the system's store), the client certificate and key. */
static SSL_CTX *ctx_new(const struct hf_tls *t, struct hf_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256];

	if (!ctx) {
		hf_err_set(err, HF_ERR, "cannot set up TLS: %s", ssl_reason(why, sizeof(why), "?"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_verify(ctx, t->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	hf_tls_cache_setup(ctx);
	if (t->cacert ? SSL_CTX_load_verify_locations(ctx, t->cacert, NULL) != 1 :
			SSL_CTX_set_default_verify_paths(ctx) != 1) {
		hf_err_set(err, HF_EINVAL, "cannot load the TLS CA certificates '%s': %s",
			   t->cacert ? t->cacert : "(system store)", ssl_reason(why, sizeof(why), "?"));
		goto fail;
	}
	if (t->cert && SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		hf_err_set(err, HF_EINVAL, "cannot load the TLS client certificate '%s': %s", t->cert,
			   ssl_reason(why, sizeof(why), "?"));
		goto fail;
	}
	if (t->key || t->cert) {
		const char *key = t->key ? t->key : t->cert;

		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			hf_err_set(err, HF_EINVAL, "cannot load the TLS client key '%s': %s", key,
				   ssl_reason(why, sizeof(why), "?"));
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The process's SSL_CTX for 't', made on first use; NULL with 'err'. */
static SSL_CTX *ctx_for(const struct hf_tls *t, struct hf_err *err)
{
	char *key = hf_xasprintf("%s\n%s\n%s\n%d", t->cacert ? t->cacert : "",
				 t->cert ? t->cert : "", t->key ? t->key : "", t->insecure);
	SSL_CTX *ctx = NULL;
	size_t i;

	pthread_mutex_lock(&ctx_lock);
	for (i = 0; i < nctxs && !ctx; i++)
		if (!strcmp(ctxs[i].key, key))
			ctx = ctxs[i].ctx;
	if (!ctx && (ctx = ctx_new(t, err))) {
		ctxs = hf_xrealloc(ctxs, (nctxs + 1) * sizeof(*ctxs));
		ctxs[nctxs].key = key;
		ctxs[nctxs++].ctx = ctx;
		key = NULL;
	}
	pthread_mutex_unlock(&ctx_lock);
	free(key);
	return ctx;
}

/* ---- sockets ------------------------------------------------------- */

/* Wait until 'fd' has 'events' or 'deadline' (hf_mono_ms) passed.
 * Returns > 0 when ready, 0 on timeout, -1 on error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long long left = deadline - hf_mono_ms();
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)left);
		if (rc >= 0 || errno != EINTR)
			return rc;
	}
}

int hf_host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* SSL_read(), SSL_write() and SSL_connect() write with write(2): a server
 * that closed would raise SIGPIPE, which kills a command (and which a
 * library must not ask its host to ignore). It is held back around them,
 * and one they raised is taken so that it is never delivered. */
struct pipe_guard {
	sigset_t old;
	int was_pending;
};

static void pipe_hold(struct pipe_guard *g)
{
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void pipe_release(struct pipe_guard *g)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe, pending;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&pipe, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- TLS handshake ------------------------------------------------- */

/* Why the handshake on 'ssl' failed, for people. */
static void handshake_error(struct hf_conn *c, int ret, struct hf_err *err)
{
	long vr = SSL_get_verify_result(c->ssl);
	int reason = ERR_GET_REASON(ERR_peek_error());
	char why[256];

	if (vr != X509_V_OK)
		hf_err_set(err, HF_EREFUSED, "TLS: the certificate of %s is not trusted: %s "
			   "(check --tls-cacert and --tls-sni)", c->addr,
			   X509_verify_cert_error_string(vr));
	else if (SSL_get_error(c->ssl, ret) == SSL_ERROR_SYSCALL && !ERR_peek_error())
		hf_err_set(err, HF_EUNREACH, "TLS handshake with %s failed: the server closed the "
			   "connection (not a TLS port? use redis://)", c->addr);
	else
		hf_err_set(err, HF_EUNREACH, "TLS handshake with %s failed: %s%s", c->addr,
			   ssl_reason(why, sizeof(why), "no reason given"),
			   reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ?
			   " (not a TLS port? use redis://)" : "");
	ERR_clear_error();
}

/* One step of the handshake on 'c': 0 when it is done, POLLIN or POLLOUT
 * to wait for, or a negative code with 'err' filled. */
static int tls_step(struct hf_conn *c, struct hf_err *err)
{
	struct pipe_guard g;
	int ret, e;

	ERR_clear_error();
	errno = 0;
	pipe_hold(&g);
	ret = SSL_connect(c->ssl);
	pipe_release(&g);
	if (ret == 1) {
		hf_tls_cache_done(c->ssl);
		return 0;
	}
	e = SSL_get_error(c->ssl, ret);
	if (e == SSL_ERROR_WANT_READ)
		return POLLIN;
	if (e == SSL_ERROR_WANT_WRITE)
		return POLLOUT;
	handshake_error(c, ret, err);
	return err ? err->code : HF_EUNREACH;
}

/* Put TLS on 'c' (connected): SNI and the name checked are t->sni, else
 * the host (an IP literal is checked against the certificate's IP
 * addresses). The handshake is tls_step()'s. */
static int tls_setup(struct hf_conn *c, const struct hf_tls *t, const char *host,
		     struct hf_err *err)
{
	SSL_CTX *ctx = ctx_for(t, err);
	const char *name = t->sni && *t->sni ? t->sni : host;
	X509_VERIFY_PARAM *param;

	if (!ctx)
		return err ? err->code : HF_ERR;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return hf_err_set(err, HF_ERR, "cannot set up TLS to %s", c->addr);
	if (!hf_host_is_ip(name))
		SSL_set_tlsext_host_name(c->ssl, name);
	param = SSL_get0_param(c->ssl);
	if (!t->insecure && (hf_host_is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
						 : X509_VERIFY_PARAM_set1_host(param, name, 0)) != 1)
		return hf_err_set(err, HF_EINVAL, "TLS: cannot check the name '%s'", name);
	hf_tls_cache_offer(c->ssl, t, c->addr, name);
	return 0;
}

/* ---- reading and writing ------------------------------------------- */

/* Every reader is made here, so the bound on replies applies to all. */
static redisReader *reader_new(void)
{
	return hf_reader_new();
}

enum { IO_AGAIN = -2 };

/* Why a TLS read or write failed with SSL_get_error() 'e', in c->errstr. */
static void tls_failed(struct hf_conn *c, int e)
{
	size_t len;

	ssl_reason(c->errstr, sizeof(c->errstr), e == SSL_ERROR_SYSCALL ? strerror(errno) : "TLS error");
	if (c->answered)
		return;
	/* TLS 1.3 tells a client that its certificate is refused only after
	 * the handshake, when it sends or reads. */
	len = strlen(c->errstr);
	snprintf(c->errstr + len, sizeof(c->errstr) - len, " (does the server want a client "
		 "certificate? --tls-cert, --tls-key)");
}


/* Read up to 'n' bytes: > 0, 0 at end of stream, IO_AGAIN, or -1 with
 * c->errstr filled. */
static ssize_t io_read(struct hf_conn *c, char *buf, size_t n)
{
	struct pipe_guard g;
	ssize_t r;
	int e;

	if (!c->ssl) {
		r = recv(c->fd, buf, n, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return IO_AGAIN;
		if (r < 0)
			snprintf(c->errstr, sizeof(c->errstr), "%s%s", strerror(errno),
				 c->answered ? "" : " before any answer (a TLS port? use rediss://)");
		return r;
	}
	ERR_clear_error();
	errno = 0;
	pipe_hold(&g);
	r = SSL_read(c->ssl, buf, (int)n);
	pipe_release(&g);
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, (int)r);
	c->want_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return IO_AGAIN;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error() && !errno))
		return 0;
	tls_failed(c, e);
	return -1;
}

/* Write up to 'n' bytes: > 0, IO_AGAIN (then '*want_read' says whether
 * TLS waits for the socket to be readable), or -1 with c->errstr. */
static ssize_t io_write(struct hf_conn *c, const char *buf, size_t n, int *want_read)
{
	struct pipe_guard g;
	ssize_t r;
	int e;

	*want_read = 0;
	if (!c->ssl) {
		r = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return IO_AGAIN;
		if (r < 0)
			snprintf(c->errstr, sizeof(c->errstr), "%s", strerror(errno));
		return r;
	}
	ERR_clear_error();
	errno = 0;
	pipe_hold(&g);
	r = SSL_write(c->ssl, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
	pipe_release(&g);
	if (r > 0)
		return r;
	e = SSL_get_error(c->ssl, (int)r);
	*want_read = e == SSL_ERROR_WANT_READ;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return IO_AGAIN;
	tls_failed(c, e);
	return -1;
}

int hf_conn_read(struct hf_conn *c)
{
	char buf[16384];
	int fed = 0;

	if (c->eof)
		return -1;
	for (;;) {
		ssize_t r = io_read(c, buf, sizeof(buf));

		if (r == IO_AGAIN)
			return 0;
		if (r <= 0) {
			if (!r)
				snprintf(c->errstr, sizeof(c->errstr), "%s",
					 c->answered || c->ssl ? "the server closed the connection" :
					 "the server closed the connection before answering "
					 "(a TLS port? use rediss://)");
			c->eof = 1;
			return fed ? 0 : -1;
		}
		if (!c->ssl && !c->answered && (unsigned char)buf[0] == 0x15) {
			snprintf(c->errstr, sizeof(c->errstr), "the server answered with TLS (use rediss://)");
			c->eof = 1;
			return -1;
		}
		c->answered = 1;
		fed = 1;
		if (redisReaderFeed(c->reader, buf, (size_t)r) != REDIS_OK) {
			snprintf(c->errstr, sizeof(c->errstr), "%s", c->reader->errstr);
			return -1;
		}
	}
}

int hf_conn_get(struct hf_conn *c, redisReply **out)
{
	void *r = NULL;

	*out = NULL;
	if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
		snprintf(c->errstr, sizeof(c->errstr), "protocol error: %s", c->reader->errstr);
		return -1;
	}
	*out = r;
	return 0;
}

void hf_conn_append(struct hf_conn *c, const struct hf_argv *a)
{
	char *cmd = NULL;
	int n = redisFormatCommandArgv(&cmd, a->argc, (const char **)a->argv, a->len);

	if (n < 0)
		oom();
	if (c->outpos == c->outlen) {
		free(c->out);
		c->out = NULL;
		c->outpos = c->outlen = 0;
	}
	c->out = hf_xrealloc(c->out, c->outlen + (size_t)n);
	memcpy(c->out + c->outlen, cmd, (size_t)n);
	c->outlen += (size_t)n;
	redisFreeCommand(cmd);
}

int hf_conn_flush(struct hf_conn *c, long timeout_ms)
{
	long long deadline = hf_mono_ms() + timeout_ms;

	while (c->outpos < c->outlen) {
		int want_read, rc;
		ssize_t w = io_write(c, c->out + c->outpos, c->outlen - c->outpos, &want_read);

		if (w > 0) {
			c->outpos += (size_t)w;
			continue;
		}
		if (w != IO_AGAIN)
			return -1;
		rc = wait_fd(c->fd, want_read ? POLLIN : POLLOUT, deadline);
		if (rc <= 0) {
			snprintf(c->errstr, sizeof(c->errstr), "%s",
				 rc ? strerror(errno) : "cannot send within the deadline");
			return -1;
		}
	}
	return 0;
}

short hf_conn_events(const struct hf_conn *c)
{
	if (c->state != OPEN_DONE)
		return c->events;
	return c->want_write ? (POLLIN | POLLOUT) : POLLIN;
}

int hf_conn_fd(const struct hf_conn *c)
{
	return c->fd;
}

const char *hf_conn_error(const struct hf_conn *c)
{
	return c->errstr;
}

const char *hf_conn_addr(const struct hf_conn *c)
{
	return c->addr;
}

int hf_conn_stale(struct hf_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	redisReply *r = NULL;

	if (c->state != OPEN_DONE)
		return 0;   /* being opened: nothing to read yet */
	if (c->eof)
		return 1;
	/* TLS may have sent records of its own since (session tickets):
	 * read them; only an end of stream or an unasked reply is stale. */
	if ((!c->ssl || !SSL_pending(c->ssl)) && poll(&p, 1, 0) == 0)
		return 0;
	if (hf_conn_read(c) || c->eof || hf_conn_get(c, &r) || r) {
		if (r)
			freeReplyObject(r);
		return 1;
	}
	return 0;
}

/* ---- opening ------------------------------------------------------- */

void hf_conn_close(struct hf_conn *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* No close_notify round trip: the socket goes at once. */
		SSL_set_quiet_shutdown(c->ssl, 1);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->reader)
		redisReaderFree(c->reader);
	if (c->res)
		freeaddrinfo(c->res);
	free(c->host);
	free(c->out);
	free(c);
}

/* Start connecting to the next address of 'c' (the first when none was
 * tried). Returns 0, or -1 when no address is left. */
static int connect_next(struct hf_conn *c)
{
	for (c->ai = c->ai ? c->ai->ai_next : c->res; c->ai; c->ai = c->ai->ai_next) {
		int fd = socket(c->ai->ai_family, c->ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				c->ai->ai_protocol);

		if (fd < 0) {
			c->err_no = errno;
			continue;
		}
		if (c->fd >= 0)
			close(c->fd);
		c->fd = fd;
		if (connect(fd, c->ai->ai_addr, c->ai->ai_addrlen) && errno != EINPROGRESS) {
			c->err_no = errno;
			continue;
		}
		c->state = OPEN_CONNECT;
		c->events = POLLOUT;
		return 0;
	}
	return -1;
}

/* The connect of 'c' finished: on to TLS (or AUTH), or to the next
 * address. Returns 0, or a negative code with 'err' filled. */
static int connected(struct hf_conn *c, const struct hf_uri *via, struct hf_err *err)
{
	int one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
		c->err_no = soerr ? soerr : errno;
		if (!connect_next(c))
			return 0;
		return hf_err_set(err, HF_EUNREACH, "cannot connect to %s: %s", c->addr,
				  strerror(c->err_no));
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c->state = OPEN_TLS;
	return via->tls ? tls_setup(c, &via->tlsopt, c->host, err) : 0;
}

/* Send AUTH, when 'via' has a password; its reply is awaited in OPEN_AUTH. */
static int send_auth(struct hf_conn *c, const struct hf_uri *via, long timeout_ms,
		     struct hf_err *err)
{
	struct hf_argv a = {0};

	c->state = via->password ? OPEN_AUTH : OPEN_DONE;
	c->events = POLLIN;
	if (!via->password)
		return 0;
	hf_argv_push(&a, "AUTH");
	if (via->user)
		hf_argv_push(&a, via->user);
	hf_argv_push(&a, via->password);
	hf_conn_append(c, &a);
	hf_argv_release(&a);
	if (hf_conn_flush(c, timeout_ms))
		return hf_err_set(err, HF_EUNREACH, "%s did not take AUTH: %s", c->addr, c->errstr);
	return 0;
}

/* AUTH's reply, when it is there; the server's message never holds the
 * password. A refusal says how to give the right one. */
static int auth_reply(struct hf_conn *c, const struct hf_uri *via, struct hf_err *err)
{
	redisReply *r = NULL;
	int rc = 0, lost = hf_conn_read(c);

	if (hf_conn_get(c, &r) || (!r && lost))
		return hf_err_set(err, HF_EUNREACH, "%s did not answer AUTH: %s", c->addr, c->errstr);
	if (!r)
		return 0;   /* not yet */
	if (r->type == REDIS_REPLY_ERROR && hf_auth_error(c->addr, r->str, via, err))
		rc = HF_ERR;
	else if (r->type == REDIS_REPLY_ERROR)
		rc = hf_err_set(err, HF_ERR, "authentication to %s failed: %s", c->addr, r->str);
	freeReplyObject(r);
	c->state = OPEN_DONE;
	return rc;
}

int hf_conn_advance(struct hf_conn *c, const struct hf_uri *via, long timeout_ms,
		    struct hf_err *err)
{
	int rc = 0;

	while (!rc && c->state != OPEN_DONE) {
		if (c->state == OPEN_CONNECT) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			int was = c->fd;

			if (poll(&p, 1, 0) == 0)
				return 1;   /* still connecting */
			rc = connected(c, via, err);
			if (!rc && c->state == OPEN_CONNECT && c->fd != was)
				return 1;   /* trying the next address */
		} else if (c->state == OPEN_TLS) {
			int step = c->ssl ? tls_step(c, err) : 0;

			if (step > 0) {
				c->events = (short)step;
				return 1;
			}
			rc = step < 0 ? step : send_auth(c, via, timeout_ms, err);
		} else {
			rc = auth_reply(c, via, err);
			if (!rc && c->state == OPEN_AUTH)
				return 1;
		}
	}
	return rc;
}

int hf_conn_opening(const struct hf_conn *c)
{
	return c->state != OPEN_DONE;
}

const char *hf_conn_stuck(const struct hf_conn *c)
{
	/* A server that is no TLS server takes a ClientHello for the start
	 * of an inline command and waits for its end. */
	if (c->state == OPEN_TLS && c->ssl)
		return " (in the TLS handshake: not a TLS port? use redis://)";
	return "";
}

int hf_conn_start(const char *host, int port, struct hf_conn **out, struct hf_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct hf_conn *c = hf_xcalloc(1, sizeof(*c));
	char service[16];
	int rc;

	c->fd = -1;
	c->host = hf_xstrdup(host);
	if (strchr(host, ':'))
		snprintf(c->addr, sizeof(c->addr), "[%s]:%d", host, port);
	else
		snprintf(c->addr, sizeof(c->addr), "%s:%d", host, port);
	if (!(c->reader = reader_new()))
		oom();
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &c->res);
	if (rc)
		rc = hf_err_set(err, HF_EUNREACH, "cannot connect to %s: %s", c->addr, gai_strerror(rc));
	else if (connect_next(c))
		rc = hf_err_set(err, HF_EUNREACH, "cannot connect to %s: %s", c->addr,
				strerror(c->err_no));
	if (rc) {
		hf_conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Wait for the connections of 'c' still opening, advancing each whose
 * socket is ready, until none is left or 'deadline' passed; one that
 * fails is closed and set to NULL, its error in 'errs'. */
static void open_wait(struct hf_conn **c, size_t n, const struct hf_uri *via, long timeout_ms,
		      long long deadline, struct hf_err *errs)
{
	struct pollfd *p = hf_xcalloc(n, sizeof(*p));
	size_t *idx = hf_xcalloc(n, sizeof(*idx));

	for (;;) {
		long long left = deadline - hf_mono_ms();
		size_t i, np = 0;
		int rc;

		for (i = 0; i < n; i++) {
			if (!c[i] || !hf_conn_opening(c[i]))
				continue;
			if (left <= 0) {
				hf_err_set(&errs[i], HF_EUNREACH, "cannot connect to %s: no answer in time%s",
					   c[i]->addr, hf_conn_stuck(c[i]));
				hf_conn_close(c[i]);
				c[i] = NULL;
				continue;
			}
			p[np] = (struct pollfd){ .fd = c[i]->fd, .events = c[i]->events };
			idx[np++] = i;
		}
		if (!np)
			break;
		rc = poll(p, np, (int)left);
		for (i = 0; rc > 0 && i < np; i++) {
			size_t k = idx[i];

			if (p[i].revents && hf_conn_advance(c[k], via, timeout_ms, &errs[k]) < 0) {
				hf_conn_close(c[k]);
				c[k] = NULL;
			}
		}
	}
	free(p);
	free(idx);
}

void hf_conn_open_many(const struct hf_uri *via, const char *const *hosts, const int *ports,
		       size_t n, long timeout_ms, struct hf_conn **out, struct hf_err *errs)
{
	long long deadline = hf_mono_ms() + timeout_ms;
	size_t i;

	for (i = 0; i < n; i++)
		if (hf_conn_start(hosts[i], ports[i], &out[i], &errs[i]))
			out[i] = NULL;
	open_wait(out, n, via, timeout_ms, deadline, errs);
}

int hf_conn_open(const struct hf_uri *via, const char *host, int port, long timeout_ms,
		 struct hf_conn **out, struct hf_err *err)
{
	struct hf_err local = {0};
	struct hf_conn *c = NULL;

	hf_conn_open_many(via, &host, &port, 1, timeout_ms, &c, err ? err : &local);
	if (!c)
		return err ? err->code : local.code;
	*out = c;
	return 0;
}

int hf_conn_command(struct hf_conn *c, const struct hf_argv *a, long timeout_ms,
		    redisReply **out)
{
	long long deadline = hf_mono_ms() + timeout_ms;
	redisReply *r = NULL;

	hf_conn_append(c, a);
	if (hf_conn_flush(c, timeout_ms))
		return -1;
	for (;;) {
		int rc;

		if (hf_conn_get(c, &r))
			return -1;
		if (r) {
			*out = r;
			return 0;
		}
		if (hf_conn_read(c))
			return -1;
		if (c->ssl && SSL_pending(c->ssl))
			continue;
		if (hf_conn_get(c, &r))
			return -1;
		if (r) {
			*out = r;
			return 0;
		}
		rc = wait_fd(c->fd, hf_conn_events(c), deadline);
		if (rc <= 0) {
			snprintf(c->errstr, sizeof(c->errstr), "%s",
				 rc ? strerror(errno) : "no answer within the deadline");
			return -1;
		}
	}
}
