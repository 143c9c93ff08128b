/* Bearer tokens of 'hotfix serve': the tokens file and the check of a
 * request's Authorization header (or of the dashboard's cookie). Only
 * digests of the tokens are kept. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/serve.h"
#include "util/buf.h"
#include "util/misc.h"

struct token {
	enum hf_serve_role role;
	int line;                    /* its line in the tokens file: its name */
	unsigned char digest[SHA256_DIGEST_LENGTH];
};

struct hf_tokens {
	struct token *t;
	size_t n;
};

void hf_tokens_free(struct hf_tokens *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->t, t->n * sizeof(*t->t));
	free(t->t);
	free(t);
}

/* Parse line 'no' ('line', its newline removed) of 'path' into 't'.
 * Blank and comment lines add nothing. */
static int parse_line(const char *path, int no, char *line, struct hf_tokens *t,
		      struct hf_err *err)
{
	char *save = NULL, *role, *token, *extra;
	enum hf_serve_role r;

	role = strtok_r(line, " \t\r", &save);
	if (!role || role[0] == '#')
		return 0;
	token = strtok_r(NULL, " \t\r", &save);
	extra = strtok_r(NULL, " \t\r", &save);
	if (!strcmp(role, "viewer"))
		r = HF_SERVE_VIEWER;
	else if (!strcmp(role, "operator"))
		r = HF_SERVE_OPERATOR;
	else
		return hf_err_set(err, HF_EINVAL, "tokens file '%s': line %d: unknown role '%s' "
				  "(viewer or operator)", path, no, role);
	if (!token || extra)
		return hf_err_set(err, HF_EINVAL, "tokens file '%s': line %d: expected 'ROLE TOKEN'",
				  path, no);
	t->t = hf_xrealloc(t->t, sizeof(*t->t) * (t->n + 1));
	t->t[t->n].role = r;
	t->t[t->n].line = no;
	SHA256((const unsigned char *)token, strlen(token), t->t[t->n].digest);
	t->n++;
	OPENSSL_cleanse(token, strlen(token));
	return 0;
}

int hf_tokens_load(const char *path, struct hf_tokens **out, struct hf_err *err)
{
	struct hf_tokens *t = hf_xcalloc(1, sizeof(*t));
	char *line = NULL;
	size_t cap = 0;
	struct stat sb;
	FILE *f = NULL;
	int fd, no = 0, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = hf_err_set(err, HF_EINVAL, "tokens file '%s': %s", path, strerror(errno));
		goto out;
	}
	/* fstat on the open file: what is checked is what is read. */
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		rc = hf_err_set(err, HF_EINVAL, "tokens file '%s': not a regular file", path);
		close(fd);
		goto out;
	}
	if ((sb.st_mode & 07777) != 0600) {
		rc = hf_err_set(err, HF_EINVAL, "tokens file '%s' has mode %04o: it must be 0600 "
				"(chmod 600 '%s')", path, (unsigned)(sb.st_mode & 07777), path);
		close(fd);
		goto out;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = hf_err_set(err, HF_ERR, "tokens file '%s': %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	while (!rc && getline(&line, &cap, f) >= 0) {
		line[strcspn(line, "\n")] = '\0';
		rc = parse_line(path, ++no, line, t, err);
	}
	if (!rc && !t->n)
		rc = hf_err_set(err, HF_EINVAL, "tokens file '%s': no 'ROLE TOKEN' line", path);
out:
	if (line) {
		OPENSSL_cleanse(line, cap);
		free(line);
	}
	if (f)
		fclose(f);
	if (rc) {
		hf_tokens_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

enum hf_serve_role hf_tokens_role(const struct hf_tokens *t, const char *tok)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	enum hf_serve_role role = HF_SERVE_NONE;
	size_t i;

	if (!tok || !*tok)
		return HF_SERVE_NONE;
	SHA256((const unsigned char *)tok, strlen(tok), d);
	/* Every entry is compared, so the time taken says nothing of which
	 * matched; the strongest role wins if a token is listed twice. */
	for (i = 0; i < t->n; i++)
		if (!CRYPTO_memcmp(d, t->t[i].digest, sizeof(d)) && t->t[i].role > role)
			role = t->t[i].role;
	return role;
}

/* The bearer token of header 'authorization', or NULL. */
static const char *bearer(const char *authorization)
{
	const char *tok;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7))
		return NULL;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	return tok;
}

enum hf_serve_role hf_tokens_check(const struct hf_tokens *t, const char *authorization)
{
	return hf_tokens_role(t, bearer(authorization));
}

int hf_tokens_line(const struct hf_tokens *t, const char *authorization)
{
	const char *tok = bearer(authorization);
	unsigned char d[SHA256_DIGEST_LENGTH];
	enum hf_serve_role role = HF_SERVE_NONE;
	int line = 0;
	size_t i;

	if (!t || !tok || !*tok)
		return 0;
	SHA256((const unsigned char *)tok, strlen(tok), d);
	/* As hf_tokens_role(): every entry compared, the strongest wins. */
	for (i = 0; i < t->n; i++)
		if (!CRYPTO_memcmp(d, t->t[i].digest, sizeof(d)) && t->t[i].role > role) {
			role = t->t[i].role;
			line = t->t[i].line;
		}
	return line;
}
