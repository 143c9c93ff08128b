/* Reader checks: reading them from the manifest, and running them on a
 * wave's keys. */
#include "core/reader.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"
#include "util/tpl.h"

#define DEFAULT_KEYS 3
#define DEFAULT_TIMEOUT_MS 10000LL
#define OUTPUT_MAX (64 * 1024)

int hf_reader_parse(struct hf_yaml *y, struct fy_node *item, struct hf_pos at, size_t idx,
		    struct hf_check *ck)
{
	enum { F_READER, F_MATCH, F_KEYS, F_TIMEOUT, F_N };
	struct hf_field f[F_N] = {
		[F_READER] = { .name = "reader", .required = 1 }, [F_MATCH] = { .name = "match" },
		[F_KEYS] = { .name = "keys" }, [F_TIMEOUT] = { .name = "timeout" },
	};
	char where[32], *rel, *dir;
	size_t wat, wn;
	regex_t re;
	int rc;

	snprintf(where, sizeof(where), "check %zu", idx);
	if ((rc = hf_yaml_walk(y, item, at, where, f, F_N)))
		return rc;
	ck->pos = f[F_READER].pos;
	ck->keys = DEFAULT_KEYS;
	ck->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (hf_yaml_text(y, &f[F_READER], &ck->reader))
		return HF_EINVAL;
	ck->metric = hf_xstrdup("reader");
	if (hf_tpl_bad_word(ck->reader, HF_TPL_KEY, &wat, &wn))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_READER].val, f[F_READER].pos),
				    "'reader': {%.*s} is no placeholder (key, id, host, port, role, "
				    "group, node, labels.KEY)", (int)wn, ck->reader + wat);
	if (!strstr(ck->reader, "{key}"))
		return hf_yaml_fail(y, hf_yaml_pos(y, f[F_READER].val, f[F_READER].pos),
				    "'reader' reads a key: it needs {key}");
	if (f[F_MATCH].seen) {
		if (hf_yaml_text(y, &f[F_MATCH], &ck->match))
			return HF_EINVAL;
		if (regcomp(&re, ck->match, REG_EXTENDED | REG_NOSUB))
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_MATCH].val, f[F_MATCH].pos),
					    "invalid 'match' '%s' (expected an extended regular "
					    "expression)", ck->match);
		regfree(&re);
	}
	if (f[F_KEYS].seen) {
		const char *s = hf_yaml_scalar(y, f[F_KEYS].val, f[F_KEYS].pos, "keys",
					       "a number of keys");

		if (!s)
			return HF_EINVAL;
		if (hf_parse_positive(s, &ck->keys) || ck->keys > 1000)
			return hf_yaml_fail(y, hf_yaml_pos(y, f[F_KEYS].val, f[F_KEYS].pos),
					    "invalid keys '%s' (expected 1 to 1000)", s);
	}
	if (f[F_TIMEOUT].seen && (rc = hf_yaml_duration(y, &f[F_TIMEOUT], 1, &ck->timeout_ms)))
		return rc;
	rel = hf_yaml_relative(y, ".");
	dir = realpath(rel, NULL);
	ck->dir = dir ? dir : hf_xstrdup(rel);
	free(rel);
	return 0;
}


/* Does output 'out' ('len' bytes) match 're'? Without its last newline,
 * as a shell's $(...) would give it: '^v2$' matches "v2\n". */
static int matches(const regex_t *re, const char *out, size_t len)
{
	char *s = hf_xstrndup(out ? out : "", len);
	size_t n = strlen(s);
	int ok;

	if (n && s[n - 1] == '\n')
		s[--n] = '\0';
	if (n && s[n - 1] == '\r')
		s[--n] = '\0';
	ok = !regexec(re, s, 0, NULL, 0);
	free(s);
	return ok;
}

/* One read of key 'key': 0 when it passed, else -1 with 'why'. */
static int read_one(const struct hf_check *k, const struct hf_cluster *c,
		    const struct hf_node *node, const char *key, const regex_t *re, char *why,
		    size_t len)
{
	char *cmd = hf_cluster_render(c, node, k->reader, NULL, key, HF_TPL_SHELL);
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct hf_proc_io io = { .cwd = k->dir, .max = OUTPUT_MAX };
	int rc = hf_proc_exec(argv, (long)k->timeout_ms, &io), bad = 0;
	char line[240];

	hf_proc_first_line(io.errlen ? io.err : io.out, 200, line, sizeof(line));
	if (rc < 0) {
		snprintf(why, len, "reader `%s` on key '%s': %s", k->reader, key, io.why);
		bad = 1;
	} else if (rc) {
		snprintf(why, len, "reader `%s` on key '%s': exit %d%s%s", k->reader, key, rc,
			 line[0] ? ": " : "", line);
		bad = 1;
	} else if (re && !matches(re, io.out, io.outlen)) {
		hf_proc_first_line(io.out, 200, line, sizeof(line));
		snprintf(why, len, "reader `%s` on key '%s': output '%s' does not match '%s'",
			 k->reader, key, line, k->match);
		bad = 1;
	}
	hf_proc_io_release(&io);
	free(cmd);
	return bad ? -1 : 0;
}

size_t hf_reader_run(const struct hf_check *k, const struct hf_cluster *c,
		     const struct hf_node *node, const struct hf_key_record *keys, size_t n,
		     char *why, size_t len)
{
	regex_t re;
	int has_re = k->match && !regcomp(&re, k->match, REG_EXTENDED | REG_NOSUB);
	size_t i, done = 0;

	why[0] = '\0';
	for (i = 0; i < n && !why[0]; i++) {
		if (memchr(keys[i].key, '\0', keys[i].keylen))
			continue;
		read_one(k, c, node, keys[i].key, has_re ? &re : NULL, why, len);
		done++;
	}
	if (has_re)
		regfree(&re);
	return done;
}
