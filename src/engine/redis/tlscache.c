/* TLS session resumption across processes: the session (a TLS 1.3 ticket
 * and its resumption secret) each node gave the last hotfix process is
 * kept in struct hf_tls' 'sessions' directory, one file per node and TLS
 * setting, and offered on the next connection to that node, which then
 * skips the certificates and their signatures on both sides (ECDHE still
 * runs). A session authenticates as the client certificate it was made
 * with until the server's ticket lifetime ends, so its file is a secret:
 * 0600 in a 0700 directory, only ever read back when it is owned by this
 * user and private, never logged. A file that does not parse, has
 * expired, or that the server refuses costs a full handshake, nothing
 * more. Nothing is kept for --insecure connections. */
#include "engine/redis/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/buf.h"
#include "util/misc.h"

/* A session file is a DER SSL_SESSION: a few KB at most. */
enum { SESSION_MAX = 16384 };

static int path_idx = -1;   /* SSL ex_data: the cache file of a connection */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;
static unsigned long n_full, n_resumed;

static void path_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

static void idx_init(void)
{
	path_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, path_free);
}

/* "size:mtime" of 'path', so that a changed file is another setting. */
static void file_id(struct hf_buf *b, const char *path)
{
	struct stat st;

	if (path && !stat(path, &st))
		hf_buf_printf(b, "%s %lld:%lld.%ld\n", path, (long long)st.st_size,
			      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	else
		hf_buf_printf(b, "%s\n", path ? path : "-");
}

/* The cache file of 'addr' reached with 't' and checked against 'name':
 * the digest of all that names it, so no setting can use another's. */
static char *cache_path(const struct hf_tls *t, const char *addr, const char *name)
{
	struct hf_buf b = {0};
	char hex[65];

	hf_buf_printf(&b, "hotfix tls session v1\n%s\n%s\n", addr, name);
	file_id(&b, t->cacert);
	file_id(&b, t->cert);
	file_id(&b, t->key);
	hf_sha256_hex(b.s, b.len, hex);
	hf_buf_release(&b);
	return hf_xasprintf("%s/%s", t->sessions, hex);
}

/* The session in 'path', when it is ours, private, parses and has not
 * expired; else NULL. */
static SSL_SESSION *session_read(const char *path)
{
	unsigned char buf[SESSION_MAX];
	const unsigned char *p = buf;
	SSL_SESSION *s = NULL;
	struct stat st;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	if (!flock(fd, LOCK_SH) && !fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    !(st.st_mode & 077) && st.st_size > 0 && st.st_size <= SESSION_MAX)
		n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n > 0 && (s = d2i_SSL_SESSION(NULL, &p, (long)n))) {
		long hint = (long)SSL_SESSION_get_ticket_lifetime_hint(s);
		long age = (long)time(NULL) - (long)SSL_SESSION_get_time(s);

		if (!SSL_SESSION_is_resumable(s) || age < 0 || age >= SSL_SESSION_get_timeout(s) ||
		    (hint > 0 && age >= hint)) {
			SSL_SESSION_free(s);
			s = NULL;
		}
	}
	ERR_clear_error();
	return s;
}

void hf_tls_cache_offer(SSL *ssl, const struct hf_tls *t, const char *addr, const char *name)
{
	SSL_SESSION *s;
	char *path;

	if (!t->sessions || !*t->sessions || t->insecure)
		return;
	pthread_once(&idx_once, idx_init);
	if (path_idx < 0)
		return;
	path = cache_path(t, addr, name);
	if ((s = session_read(path))) {
		SSL_set_session(ssl, s);
		SSL_SESSION_free(s);
	}
	if (!SSL_set_ex_data(ssl, path_idx, path))
		free(path);
	ERR_clear_error();
}

/* Write 'sess' over the file 'path' (0600, made in 0700 directories when
 * missing) under an exclusive lock, which session_read() waits for. In
 * place, not a new file renamed over the old one: on ext4 that creates an
 * inode and flushes the data at each write, a fifth of a resumed run's
 * CPU. A file that is not private is removed instead. */
static void session_write(const char *path, SSL_SESSION *sess)
{
	unsigned char *der = NULL;
	int len = i2d_SSL_SESSION(sess, &der);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;

	if (fd < 0 && errno == ENOENT) {
		char *dir = hf_xstrdup(path);

		*strrchr(dir, '/') = '\0';
		if (!hf_mkdir_p(dir, 0700, NULL))
			fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		free(dir);
	}
	if (fd >= 0 && len > 0 && len <= SESSION_MAX && !flock(fd, LOCK_EX) && !fstat(fd, &st)) {
		/* Not private: someone may hold it open, so no secret goes
		 * into it; the next session makes a new file. */
		if (st.st_uid != geteuid() || (st.st_mode & 077))
			unlink(path);
		else if (pwrite(fd, der, (size_t)len, 0) == len)
			(void)!ftruncate(fd, len);
	}
	if (fd >= 0)
		close(fd);
	OPENSSL_free(der);
}

/* SSL_CTX_sess_set_new_cb(): a session (a TLS 1.3 ticket, which comes
 * after the handshake) to keep for the next process. The first one of a
 * connection is written; the server's second ticket is as good. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	char *path = path_idx >= 0 ? SSL_get_ex_data(ssl, path_idx) : NULL;

	if (path && SSL_SESSION_is_resumable(sess)) {
		session_write(path, sess);
		SSL_set_ex_data(ssl, path_idx, NULL);
		free(path);
	}
	ERR_clear_error();
	return 0;   /* no reference kept */
}

void hf_tls_cache_setup(SSL_CTX *ctx)
{
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session);
}

void hf_tls_cache_done(SSL *ssl)
{
	__atomic_add_fetch(SSL_session_reused(ssl) ? &n_resumed : &n_full, 1, __ATOMIC_RELAXED);
}

void hf_tls_handshakes(unsigned long *full, unsigned long *resumed)
{
	*full = __atomic_load_n(&n_full, __ATOMIC_RELAXED);
	*resumed = __atomic_load_n(&n_resumed, __ATOMIC_RELAXED);
}
