/* sem_ver as flagd-core 4.x does it: a leading 'v' or 'V' dropped, a
 * strict SemVer 2.0.0 version (as the 'semver' package parses it, blanks
 * around ignored), or a bare "1" / "1.2" completed to 1.0.0 / 1.2.0;
 * comparison by SemVer precedence (build metadata ignored). */
#include <stdlib.h>
#include <string.h>

#include "flags/internal.h"

#define MAX_IDS 16
#define SAFE_MAX 9007199254740991.0

struct ver {
	double num[3];
	int npre;
	struct { const char *s; uint32_t len; int numeric; double n; } pre[MAX_IDS];
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A numeric identifier: "0" or no leading zero, at most 2^53 - 1. */
static int numeric(const char *s, uint32_t len, double *out)
{
	double v = 0;
	uint32_t i;

	if (!len || (len > 1 && s[0] == '0'))
		return 0;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	if (v > SAFE_MAX)
		return 0;
	*out = v;
	return 1;
}

static int ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Dot-separated identifiers from 's' up to a char in 'stop' (or the
 * end); 'pre' checks them as prerelease ones (no leading zeros in
 * numbers) and records them in 'v'. Returns the bytes read, -1 if bad. */
static int idents(const char *s, uint32_t len, const char *stop, int pre, struct ver *v)
{
	uint32_t i = 0, start = 0;

	for (;;) {
		if (i < len && ident_char(s[i])) {
			i++;
			continue;
		}
		if (i == start)
			return -1;
		if (pre) {
			uint32_t k, alpha = 0;
			double n = 0;

			for (k = start; k < i; k++)
				alpha |= !is_digit(s[k]);
			if (!alpha && !numeric(s + start, i - start, &n))
				return -1;
			if (v->npre == MAX_IDS)
				return -1;
			v->pre[v->npre].s = s + start;
			v->pre[v->npre].len = i - start;
			v->pre[v->npre].numeric = !alpha;
			v->pre[v->npre++].n = n;
		}
		if (i < len && s[i] == '.') {
			start = ++i;
			continue;
		}
		if (i == len || strchr(stop, s[i]))
			return (int)i;
		return -1;
	}
}

/* MAJOR.MINOR.PATCH[-PRE][+BUILD]; with 'partial', "1" or "1.2" only. */
static int parse_strict(const char *s, uint32_t len, struct ver *v, int partial)
{
	uint32_t i = 0, k;
	int part, n;

	memset(v, 0, sizeof(*v));
	for (part = 0; part < 3; part++) {
		k = i;
		while (i < len && is_digit(s[i]))
			i++;
		/* A bare "1" or "1.2" is completed by semver.coerce() and then
		 * parsed strictly: the same rules for each number. */
		if (!numeric(s + k, i - k, &v->num[part]))
			return -1;
		if (part < 2 && (i == len && partial))
			return 0;
		if (part < 2 && (i == len || s[i] != '.'))
			return -1;
		if (part < 2)
			i++;
	}
	if (partial)
		return -1;
	if (i < len && s[i] == '-') {
		if ((n = idents(s + i + 1, len - i - 1, "+", 1, v)) < 0)
			return -1;
		i += (uint32_t)n + 1;
	}
	if (i < len && s[i] == '+') {
		if ((n = idents(s + i + 1, len - i - 1, "", 0, v)) < 0)
			return -1;
		i += (uint32_t)n + 1;
	}
	return i == len ? 0 : -1;
}

static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int normalize(const char *s, uint32_t len, struct ver *v)
{
	const char *p = s;
	uint32_t n = len;

	if (n && (*p == 'v' || *p == 'V')) {
		p++;
		n--;
	}
	/* semver.parse: at most 256 characters, blanks around, one more 'v'
	 * allowed by its pattern. */
	if (n > 256)
		return -1;
	{
		const char *q = p, *e = p + n;

		while (q < e && space(*q))
			q++;
		while (e > q && space(e[-1]))
			e--;
		if (q < e && *q == 'v')
			q++;
		if (!parse_strict(q, (uint32_t)(e - q), v, 0))
			return 0;
	}
	return parse_strict(p, n, v, 1);
}

static int cmp_num(double a, double b)
{
	return a < b ? -1 : a > b;
}

static int compare(const struct ver *a, const struct ver *b)
{
	int i, c;

	for (i = 0; i < 3; i++)
		if ((c = cmp_num(a->num[i], b->num[i])))
			return c;
	if (!a->npre || !b->npre)
		return a->npre ? -1 : b->npre ? 1 : 0;
	for (i = 0; i < a->npre && i < b->npre; i++) {
		if (a->pre[i].numeric && b->pre[i].numeric)
			c = cmp_num(a->pre[i].n, b->pre[i].n);
		else if (a->pre[i].numeric || b->pre[i].numeric)
			c = a->pre[i].numeric ? -1 : 1;
		else
			c = hf_js_strcmp(a->pre[i].s, a->pre[i].len, b->pre[i].s, b->pre[i].len);
		if (c)
			return c;
	}
	return cmp_num(a->npre, b->npre);
}

int hf_semver_op(const char *a, uint32_t alen, const char *op, uint32_t oplen, const char *b,
		 uint32_t blen)
{
	struct ver va, vb;
	char o[3] = { 0 };
	int c;

	if (normalize(a, alen, &va) || normalize(b, blen, &vb) || oplen > 2)
		return -1;
	memcpy(o, op, oplen);
	c = compare(&va, &vb);
	if (!strcmp(o, "="))
		return c == 0;
	if (!strcmp(o, "!="))
		return c != 0;
	if (!strcmp(o, "<"))
		return c < 0;
	if (!strcmp(o, "<="))
		return c <= 0;
	if (!strcmp(o, ">"))
		return c > 0;
	if (!strcmp(o, ">="))
		return c >= 0;
	if (!strcmp(o, "^"))
		return va.num[0] == vb.num[0];
	if (!strcmp(o, "~"))
		return va.num[0] == vb.num[0] && va.num[1] == vb.num[1];
	return -1;
}
