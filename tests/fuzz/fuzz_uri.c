/* libFuzzer target: the cluster URI parser (hf_uri_parse), given whatever
 * --cluster, a manifest or HOTFIX_CLUSTER holds. A URI either parses into
 * a host and a port in range, whose redacted form parses back to the same
 * user, host and port, or fails with a message; neither crashes nor
 * leaks. Built by 'make fuzz'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/redis/redis.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A password from the environment would make runs differ. */
	unsetenv("HOTFIX_PASSWORD");
	return 0;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The redacted URI names the same node: it has no password, and a user or
 * host with '@', ':' or '/' cannot be written back unescaped, so only a
 * plain one is compared (an escaped NUL, "%00", is refused by the
 * parser). */
static void round_trip(const struct hf_uri *u)
{
	struct hf_uri again = {0}, copy = {0};
	struct hf_err err = {0};
	char *r = hf_uri_redacted(u);

	if (!r)
		abort();
	hf_uri_copy(&copy, u);
	if (!same(copy.user, u->user) || !same(copy.password, u->password) ||
	    !same(copy.host, u->host) || copy.port != u->port)
		abort();
	if (!strpbrk(u->host, "@:/?%") && (!u->user || !strpbrk(u->user, "@:/?%"))) {
		if (hf_uri_parse(r, &again, &err) || !same(again.user, u->user) ||
		    strcmp(again.host, u->host) || again.port != u->port || again.password)
			abort();
		hf_uri_release(&again);
	}
	hf_uri_release(&copy);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct hf_uri u = {0};
	struct hf_err err = {0};

	memcpy(s, data, size);
	s[size] = '\0';
	if (hf_uri_parse(s, &u, &err)) {
		if (!err.msg[0] || u.host)
			abort();
	} else if (u.inventory) {
		/* exec:FILE names the exec engine's inventory: no address. */
		char *red = hf_uri_redacted(&u);

		if (!*u.inventory || strncmp(s, "exec:", 5) || u.password || u.user ||
		    strcmp(red + 5, u.inventory))
			abort();
		free(red);
		hf_uri_release(&u);
	} else {
		if (!u.host || !*u.host || u.port < 1 || u.port > 65535)
			abort();
		round_trip(&u);
		hf_uri_release(&u);
	}
	free(s);
	return 0;
}
