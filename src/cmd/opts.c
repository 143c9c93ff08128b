/* The option parser shared by the subcommands. */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct hf_opt *find(const struct hf_opt *opts, const char *name, size_t n)
{
	for (; opts->name; opts++)
		if (strlen(opts->name) == n && !strncmp(opts->name, name, n))
			return opts;
	return NULL;
}

int hf_opts_parse(int argc, char **argv, const struct hf_opt *opts,
		  const char **pos, int maxpos, int *npos, int *help,
		  struct hf_err *err)
{
	int i;

	*npos = 0;
	*help = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct hf_opt *o;
		const char *eq;
		size_t n;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			*help = 1;
			continue;
		}
		if (strncmp(a, "--", 2) || !a[2]) {
			if (*npos >= maxpos)
				return hf_err_set(err, HF_EINVAL, "%s: unexpected argument '%s'", argv[0], a);
			pos[(*npos)++] = a;
			continue;
		}
		eq = strchr(a + 2, '=');
		n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		o = find(opts, a + 2, n);
		if (!o)
			return hf_err_set(err, HF_EINVAL, "%s: unknown option '%s'", argv[0], a);
		if (o->flag) {
			if (eq)
				return hf_err_set(err, HF_EINVAL, "%s: option '--%s' takes no value", argv[0], o->name);
			*o->flag = 1;
			continue;
		}
		if (eq) {
			*o->value = eq + 1;
		} else {
			if (i + 1 >= argc)
				return hf_err_set(err, HF_EINVAL, "%s: option '--%s' needs a value", argv[0], o->name);
			*o->value = argv[++i];
		}
	}
	return 0;
}

int hf_opt_int(const char *name, const char *s, long *out, struct hf_err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return hf_err_set(err, HF_EINVAL, "option '--%s': '%s' is not a non-negative integer", name, s);
	*out = v;
	return 0;
}

int hf_opts_take_list(int *argc, char **argv, const char *name, struct hf_optlist *list,
		      struct hf_err *err)
{
	size_t n = strlen(name);
	int i, o = 1;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (!strncmp(a, "--", 2) && !strncmp(a + 2, name, n) && a[2 + n] == '=') {
			v = a + 3 + n;
		} else if (!strncmp(a, "--", 2) && !strcmp(a + 2, name)) {
			if (i + 1 >= *argc)
				return hf_err_set(err, HF_EINVAL, "%s: option '--%s' needs a value",
						  argv[0], name);
			v = argv[++i];
		} else {
			argv[o++] = argv[i];
			continue;
		}
		if (list->n >= HF_OPTLIST_MAX)
			return hf_err_set(err, HF_EINVAL, "%s: option '--%s' given more than %d times",
					  argv[0], name, HF_OPTLIST_MAX);
		list->v[list->n++] = v;
	}
	*argc = o;
	argv[o] = NULL;
	return 0;
}
