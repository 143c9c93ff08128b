/* Credentials (issue 13): the password of URIs that hold none, from
 * --password-file or $HOTFIX_PASSWORD_FILE (the environment's
 * HOTFIX_PASSWORD and REDISCLI_AUTH are read by hf_uri_parse()), and the
 * warning about a password typed into a URI on the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "engine/redis/redis.h"

/* The URI in argument 'i' of the command line, when it is one: the value
 * of --cluster, or an argument that starts with redis:// or rediss://. */
static const char *uri_arg(int argc, char **argv, int i)
{
	const char *a = argv[i];

	if (!strcmp(a, "--cluster"))
		return i + 1 < argc ? argv[i + 1] : NULL;
	if (!strncmp(a, "--cluster=", 10))
		return a + 10;
	if (!strncmp(a, "redis://", 8) || !strncmp(a, "rediss://", 9))
		return a;
	return NULL;
}

void hf_cmd_uri_warning(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *u = uri_arg(argc, argv, i);

		if (u && hf_uri_has_password(u)) {
			fprintf(stderr, "hotfix: warning: a password in a cluster URI on the command "
					"line shows in ps and in the shell's history; give it with "
					"--password-file FILE, HOTFIX_PASSWORD or REDISCLI_AUTH\n");
			return;
		}
	}
}

int hf_cmd_credentials_setup(struct hf_ctx *ctx, struct hf_err *err)
{
	const char *env = getenv("HOTFIX_PASSWORD_FILE");
	const char *file = ctx->password_file, *from = "--password-file";
	char *pw = NULL;
	int loose = 0, rc;

	if (!file && env && *env) {
		file = env;
		from = "HOTFIX_PASSWORD_FILE";
	}
	if (!file)
		return 0;
	rc = hf_password_file_read(file, &pw, &loose, err);
	if (rc)
		return rc;
	if (loose)
		fprintf(stderr, "hotfix: warning: the password file %s may be read by its group "
				"or others; chmod 600 it\n", file);
	hf_uri_password_default(pw, from);
	memset(pw, 0, strlen(pw));
	free(pw);
	return 0;
}
