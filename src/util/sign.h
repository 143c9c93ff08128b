/* Ed25519 keys and signatures (OpenSSL), for who signs an approval, an
 * audit checkpoint or a lease. Keys are PEM files as
 * 'openssl genpkey -algorithm ed25519' (private) and
 * 'openssl pkey -pubout' (public) write them; signatures travel as
 * lowercase hex (128 characters). */
#ifndef HF_UTIL_SIGN_H
#define HF_UTIL_SIGN_H

#include <stddef.h>

#include "util/err.h"

#define HF_SIG_HEX 129         /* 64 bytes in hex, and the NUL */
#define HF_KEYID_HEX 17        /* the first 8 bytes of the public key's SHA-256 */

struct hf_key;

/* Load a private key (HF_KEY_PRIVATE) or a public key from 'path'. A
 * private key serves for verifying too. Errors name the file and say
 * what it is not (not PEM, not Ed25519). */
enum { HF_KEY_PUBLIC, HF_KEY_PRIVATE };
int hf_key_load(const char *path, int which, struct hf_key **out, struct hf_err *err);
/* A public key from PEM text in memory ('what' names it in errors). */
int hf_key_from_pem(const char *pem, size_t len, const char *what, struct hf_key **out,
		    struct hf_err *err);
/* A new private key, written to 'path' (PEM, mode 0600, never overwritten:
 * HF_EINVAL when it exists) and returned. */
int hf_key_generate(const char *path, struct hf_key **out, struct hf_err *err);
void hf_key_free(struct hf_key *k);

/* The public half as PEM (caller frees), and its short id: hex of the
 * first 8 bytes of SHA-256 over the raw 32-byte public key. */
char *hf_key_public_pem(const struct hf_key *k);
void hf_key_id(const struct hf_key *k, char out[HF_KEYID_HEX]);
/* Do 'a' and 'b' hold the same public key? */
int hf_key_same(const struct hf_key *a, const struct hf_key *b);

/* Sign 'msg' with a private key: 'sig' gets the signature in hex. */
int hf_sign(const struct hf_key *k, const void *msg, size_t len, char sig[HF_SIG_HEX],
	    struct hf_err *err);
/* 1 when 'sig' (hex) is k's signature of 'msg', 0 when not (a malformed
 * signature is just not valid). */
int hf_sign_verify(const struct hf_key *k, const void *msg, size_t len, const char *sig);

#endif
