/* Certificates of a TLS sandbox, made with OpenSSL's C API: a CA of its
 * own, one server certificate for 127.0.0.1, ::1 and localhost (every
 * node serves it, and uses it as a client on the cluster bus and for
 * replication), and a client certificate for hotfix. The nodes are
 * configured in sandbox.c. */
#include "sandbox/certs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/buf.h"
#include "util/misc.h"

#define VALID_DAYS 825

/* One extension given as OpenSSL's config text ("critical,CA:TRUE"). */
static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A certificate for 'key' named 'cn', signed by 'ca_key' ('ca' NULL:
 * self-signed), with the extensions in 'exts' (nid, value pairs, up to a
 * 0 nid). NULL on failure. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key,
		       const int *nids, const char *const *values)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	size_t i;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;   /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * VALID_DAYS) ||
	    !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
					(const unsigned char *)"hotfix sandbox", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca ? ca : x)))
		goto fail;
	for (i = 0; nids[i]; i++)
		if (add_ext(x, ca ? ca : x, nids[i], values[i]))
			goto fail;
	if (!X509_sign(x, ca_key ? ca_key : key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* Write 'key' (mode 0600) and 'cert' as PEM to DIR/NAME.key and .crt. */
static int write_pem(const char *dir, const char *name, EVP_PKEY *key, X509 *cert,
		     struct hf_err *err)
{
	char *kpath = hf_xasprintf("%s/%s.key", dir, name);
	char *cpath = hf_xasprintf("%s/%s.crt", dir, name);
	FILE *kf = NULL, *cf = NULL;
	mode_t old = umask(077);
	int rc = 0;

	kf = fopen(kpath, "w");
	cf = fopen(cpath, "w");
	umask(old);
	if (!kf || !cf)
		rc = hf_err_set(err, HF_ERR, "cannot write '%s': %s", !kf ? kpath : cpath,
				strerror(errno));
	else if (!PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) ||
		 !PEM_write_X509(cf, cert))
		rc = hf_err_set(err, HF_ERR, "cannot write the sandbox's %s certificate", name);
	if (kf && fclose(kf) && !rc)
		rc = hf_err_set(err, HF_ERR, "cannot write '%s': %s", kpath, strerror(errno));
	if (cf && fclose(cf) && !rc)
		rc = hf_err_set(err, HF_ERR, "cannot write '%s': %s", cpath, strerror(errno));
	free(kpath);
	free(cpath);
	return rc;
}

int hf_sandbox_make_certs(const char *dir, struct hf_err *err)
{
	static const int ca_nids[] = { NID_basic_constraints, NID_key_usage,
				       NID_subject_key_identifier, 0 };
	static const char *const ca_vals[] = { "critical,CA:TRUE", "critical,keyCertSign,cRLSign",
					       "hash" };
	static const int leaf_nids[] = { NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
					 NID_authority_key_identifier, NID_subject_alt_name, 0 };
	const char *server_vals[] = { "critical,CA:FALSE", "critical,digitalSignature",
				      "serverAuth,clientAuth", "keyid",
				      "IP:127.0.0.1,IP:::1,DNS:localhost" };
	const char *client_vals[] = { "critical,CA:FALSE", "critical,digitalSignature",
				      "clientAuth", "keyid", "DNS:hotfix" };
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256");
	EVP_PKEY *cli_key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *srv = NULL, *cli = NULL;
	int rc = 0;

	if (ca_key && srv_key && cli_key)
		ca = make_cert(ca_key, "hotfix sandbox CA", NULL, NULL, ca_nids, ca_vals);
	if (ca) {
		srv = make_cert(srv_key, "127.0.0.1", ca, ca_key, leaf_nids, server_vals);
		cli = make_cert(cli_key, "hotfix", ca, ca_key, leaf_nids, client_vals);
	}
	if (!srv || !cli) {
		char why[256];

		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		rc = hf_err_set(err, HF_ERR, "cannot make the sandbox's certificates: %s", why);
	}
	if (!rc && (rc = hf_mkdir_p(dir, 0700, err)) == 0 &&
	    (rc = write_pem(dir, "ca", ca_key, ca, err)) == 0 &&
	    (rc = write_pem(dir, "server", srv_key, srv, err)) == 0)
		rc = write_pem(dir, "client", cli_key, cli, err);
	ERR_clear_error();
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
	return rc;
}
