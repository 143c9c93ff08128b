/* Engine-private declarations shared by the files of src/engine/redis/. */
#ifndef HF_ENGINE_REDIS_INTERNAL_H
#define HF_ENGINE_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>

#include "engine/redis/redis.h"

struct hf_reply *hf_reply_from_hiredis(const redisReply *rr);

/* ---- Connections (net.c) ------------------------------------------- */

/* One connection to one node: a non-blocking socket, TLS when the URI
 * says rediss://, hiredis' reply reader. Plain TCP goes the same way. */
struct hf_conn;

/* Connect to 'host':'port' (a name, an IPv4 or an IPv6 literal) with the
 * credentials and TLS settings of 'via', and authenticate; within
 * 'timeout_ms'. A certificate that does not verify is HF_EREFUSED, no
 * answer HF_EUNREACH, a refused AUTH HF_ERR. Caller closes '*out' with
 * hf_conn_close(). */
int hf_conn_open(const struct hf_uri *via, const char *host, int port, long timeout_ms,
		 struct hf_conn **out, struct hf_err *err);
/* Open connections to 'n' nodes at once (one poll() over their connects,
 * handshakes and AUTHs): 'out[i]' is the connection to hosts[i]:ports[i],
 * or NULL with 'errs[i]' (an array of 'n') filled, as hf_conn_open()'s. */
void hf_conn_open_many(const struct hf_uri *via, const char *const *hosts, const int *ports,
		       size_t n, long timeout_ms, struct hf_conn **out, struct hf_err *errs);
void hf_conn_close(struct hf_conn *c);
/* Begin opening a connection to 'host':'port' without waiting: resolve
 * it, start the connect. Then hf_conn_advance() whenever its fd has what
 * hf_conn_events() asks for. Returns 0, or HF_EUNREACH with 'err'. */
int hf_conn_start(const char *host, int port, struct hf_conn **out, struct hf_err *err);
/* Take the opening of 'c' as far as it goes without waiting (connect,
 * TLS handshake, AUTH with the settings of 'via'). Returns 0 when 'c' is
 * open, 1 when it waits for its fd, or a negative code with 'err' filled
 * as hf_conn_open()'s (then close 'c'). */
int hf_conn_advance(struct hf_conn *c, const struct hf_uri *via, long timeout_ms,
		    struct hf_err *err);
/* Is 'c' still being opened? */
int hf_conn_opening(const struct hf_conn *c);
/* For an error message: "" or, when 'c' is stuck in a step of its
 * opening that says something, " (why)". */
const char *hf_conn_stuck(const struct hf_conn *c);
/* Send 'a' and wait for its reply, within 'timeout_ms'. Returns 0 with
 * '*out' (free with freeReplyObject()), or -1 (see hf_conn_error()): the
 * connection is then unusable. */
int hf_conn_command(struct hf_conn *c, const struct hf_argv *a, long timeout_ms,
		    redisReply **out);
/* Queue 'a' for hf_conn_flush(); commands queued are pipelined. */
void hf_conn_append(struct hf_conn *c, const struct hf_argv *a);
/* Write everything queued, waiting up to 'timeout_ms'; 0 or -1. */
int hf_conn_flush(struct hf_conn *c, long timeout_ms);
/* Read, without blocking, everything the socket and TLS hold into the
 * reader. 0 (even when nothing came), or -1 at the end of the stream or
 * on an error (replies fed before stay readable). */
int hf_conn_read(struct hf_conn *c);
/* The next complete reply read, or '*out' NULL; -1 on a protocol error. */
int hf_conn_get(struct hf_conn *c, redisReply **out);
/* Has the server closed an idle connection (timeout, restart, CLIENT
 * KILL), or sent what nobody asked for? Then it is not to be used. */
int hf_conn_stale(struct hf_conn *c);
/* What to poll() the fd for: POLLIN, with POLLOUT while TLS needs to
 * write to go on reading. */
short hf_conn_events(const struct hf_conn *c);
int hf_conn_fd(const struct hf_conn *c);
/* Why the last call failed. */
const char *hf_conn_error(const struct hf_conn *c);
/* "host:port", an IPv6 host in brackets. */
const char *hf_conn_addr(const struct hf_conn *c);
/* Is 'host' an IPv4 or IPv6 literal? */
int hf_host_is_ip(const char *host);

/* ---- TLS sessions across processes (tlscache.c) -------------------- */

struct ssl_st;
struct ssl_ctx_st;
/* Have 'ctx' hand its client sessions to the cache. */
void hf_tls_cache_setup(struct ssl_ctx_st *ctx);
/* Offer 'ssl' (not yet connected) the cached session of 'addr' with 't'
 * and the name checked 'name', if one is there and good; the session the
 * server gives it replaces it. Nothing when 't' has no cache directory or
 * is insecure. */
void hf_tls_cache_offer(struct ssl_st *ssl, const struct hf_tls *t, const char *addr,
			const char *name);
/* Count the handshake of 'ssl', just done, as full or resumed. */
void hf_tls_cache_done(struct ssl_st *ssl);

/* ---- Replies (reply.c) --------------------------------------------- */

/* A reply reader that bounds what one reply may allocate: every reader the
 * engine makes is one of these (net.c), or a hiredis context's gets the
 * same bound right after it is created (load.c; 'c' may be NULL). */
redisReader *hf_reader_new(void);
void hf_reply_bound(redisContext *c);

/* The topology as the seed in 'uri' alone gives it (topology.c). */
int hf_topology_read_seed(const struct hf_uri *uri, long timeout_ms, struct hf_cluster **out,
			  struct hf_err *err);
/* Confirm '*c' with its nodes for up to 'converge_ms', reading it again
 * while they disagree; '*c' may be replaced by a newer reading, and is
 * always a valid topology on return (consensus.c). */
int hf_topology_confirm(struct hf_cluster **c, long converge_ms, struct hf_err *err);

/* A connection to the primary owning the flag keys (flagstore.c); the
 * subscriber of flags_io.c connects to the same node. */
struct hf_flagstore {
	struct hf_uri uri;       /* the seed, with the credentials */
	long timeout_ms;
	char *host;              /* the node talked to */
	int port;
	char addr[300];          /* "host:port" */
	struct hf_conn *c;       /* NULL after an I/O error: reopened on the next call */
	char **alts;             /* "host:port" of every node CLUSTER SLOTS named, tried
				  * in turn when the seed does not answer */
	size_t nalts;
};

/* One command on the primary owning the {hotfix} slot (flagstore.c):
 * reconnects, follows MOVED; an error reply is a failure. The lease
 * (lease.c) lives in the same slot. Caller frees '*out'. */
int hf_flagstore_call(struct hf_flagstore *s, const struct hf_argv *a, redisReply **out,
		      struct hf_err *err);

#endif
