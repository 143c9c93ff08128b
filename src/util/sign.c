/* Ed25519 through OpenSSL's EVP interface (sign.h). */
#include "util/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/misc.h"

struct hf_key {
	EVP_PKEY *pkey;
	int private;
};

static int wrap(EVP_PKEY *pkey, int private, const char *what, struct hf_key **out,
		struct hf_err *err)
{
	ERR_clear_error();
	if (!pkey)
		return hf_err_set(err, HF_EINVAL, "%s: not a PEM %s key", what,
				  private ? "private" : "public");
	if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		return hf_err_set(err, HF_EINVAL, "%s: not an Ed25519 key (make one with "
				  "'openssl genpkey -algorithm ed25519')", what);
	}
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		EVP_PKEY_free(pkey);
		return hf_err_set(err, HF_ERR, "out of memory");
	}
	(*out)->pkey = pkey;
	(*out)->private = private;
	return 0;
}

int hf_key_load(const char *path, int which, struct hf_key **out, struct hf_err *err)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;

	*out = NULL;
	if (!f)
		return hf_err_set(err, HF_EINVAL, "cannot read key %s: %s", path, strerror(errno));
	if (which == HF_KEY_PRIVATE)
		pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	else
		pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return wrap(pkey, which == HF_KEY_PRIVATE, path, out, err);
}

int hf_key_from_pem(const char *pem, size_t len, const char *what, struct hf_key **out,
		    struct hf_err *err)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;

	*out = NULL;
	BIO_free(b);
	return wrap(pkey, 0, what, out, err);
}

int hf_key_generate(const char *path, struct hf_key **out, struct hf_err *err)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int fd;
	FILE *f;

	*out = NULL;
	if (!pkey)
		return hf_err_set(err, HF_ERR, "cannot generate an Ed25519 key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		EVP_PKEY_free(pkey);
		return hf_err_set(err, e == EEXIST ? HF_EINVAL : HF_ERR, "cannot create key %s: %s",
				  path, strerror(e));
	}
	if (!PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) || fclose(f)) {
		unlink(path);
		EVP_PKEY_free(pkey);
		return hf_err_set(err, HF_ERR, "cannot write key %s", path);
	}
	return wrap(pkey, 1, path, out, err);
}

void hf_key_free(struct hf_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

char *hf_key_public_pem(const struct hf_key *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b && PEM_write_bio_PUBKEY(b, k->pkey) && (n = BIO_get_mem_data(b, &data)) > 0)
		out = hf_xstrndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static int raw_public(const struct hf_key *k, unsigned char raw[32])
{
	size_t n = 32;

	return EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) == 1 && n == 32;
}

void hf_key_id(const struct hf_key *k, char out[HF_KEYID_HEX])
{
	unsigned char raw[32];
	char hex[65];

	out[0] = 0;
	if (!raw_public(k, raw))
		return;
	hf_sha256_hex(raw, sizeof(raw), hex);
	memcpy(out, hex, HF_KEYID_HEX - 1);
	out[HF_KEYID_HEX - 1] = 0;
}

int hf_key_same(const struct hf_key *a, const struct hf_key *b)
{
	unsigned char x[32], y[32];

	return raw_public(a, x) && raw_public(b, y) && !memcmp(x, y, 32);
}

int hf_sign(const struct hf_key *k, const void *msg, size_t len, char sig[HF_SIG_HEX],
	    struct hf_err *err)
{
	EVP_MD_CTX *md;
	unsigned char raw[64];
	size_t n = sizeof(raw), i;
	int ok;

	sig[0] = 0;
	if (!k->private)
		return hf_err_set(err, HF_EINVAL, "a public key cannot sign");
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
	     EVP_DigestSign(md, raw, &n, msg, len) == 1 && n == 64;
	EVP_MD_CTX_free(md);
	if (!ok)
		return hf_err_set(err, HF_ERR, "Ed25519 signing failed");
	for (i = 0; i < 64; i++)
		snprintf(sig + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned v;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
		    !strchr("0123456789abcdef", s[2 * i + 1]))
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

int hf_sign_verify(const struct hf_key *k, const void *msg, size_t len, const char *sig)
{
	EVP_MD_CTX *md;
	unsigned char raw[64];
	int ok;

	if (!sig || unhex(sig, raw, sizeof(raw)))
		return 0;
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
	     EVP_DigestVerify(md, raw, sizeof(raw), msg, len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}
