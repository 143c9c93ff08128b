/* The JavaScript semantics that json-logic-engine's operators inherit:
 * truthiness, ToNumber, ToString (Number::toString included), loose and
 * strict equality, relational comparison, strings as UTF-16 code units.
 * Written from ECMA-262; the operators themselves are in logic.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags/internal.h"

static int js_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* StringToNumber: blanks around, empty is 0, Infinity, 0x/0o/0b
 * integers, decimal literals; anything else NaN. */
static double str_tonumber(const char *s, uint32_t len)
{
	char buf[128], *end;
	const char *e = s + len;
	size_t n, i;
	int base = 0;

	while (s < e && js_space((unsigned char)*s))
		s++;
	while (e > s && js_space((unsigned char)e[-1]))
		e--;
	n = (size_t)(e - s);
	if (!n)
		return 0;
	if (n >= sizeof(buf))
		return NAN;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (!strcmp(buf, "Infinity") || !strcmp(buf, "+Infinity"))
		return INFINITY;
	if (!strcmp(buf, "-Infinity"))
		return -INFINITY;
	if (n > 2 && buf[0] == '0' && strchr("xXoObB", buf[1]))
		base = buf[1] == 'x' || buf[1] == 'X' ? 16 : buf[1] == 'o' || buf[1] == 'O' ? 8 : 2;
	if (base) {
		double v = 0;

		for (i = 2; i < n; i++) {
			int d = buf[i] >= '0' && buf[i] <= '9' ? buf[i] - '0' :
				buf[i] >= 'a' && buf[i] <= 'f' ? buf[i] - 'a' + 10 :
				buf[i] >= 'A' && buf[i] <= 'F' ? buf[i] - 'A' + 10 : 99;
			if (d >= base)
				return NAN;
			v = v * base + d;
		}
		return v;
	}
	/* strtod also reads "inf", "nan" and hex floats: only digits, one
	 * sign, a dot and an exponent are JavaScript's. */
	for (i = 0; i < n; i++)
		if (!strchr("0123456789.eE+-", buf[i]))
			return NAN;
	if (!strcmp(buf, ".") || !strcmp(buf, "+") || !strcmp(buf, "-"))
		return NAN;
	double v = strtod(buf, &end);
	return *end ? NAN : v;
}

double hf_js_tonumber(const struct hf_fv *v)
{
	switch (v->type) {
	case HF_FV_NULL:
		return 0;
	case HF_FV_BOOL:
		return v->u.b;
	case HF_FV_NUM:
		return v->u.n;
	case HF_FV_STR:
		return str_tonumber(v->u.s, v->len);
	case HF_FV_ARR:
		/* ToPrimitive joins the items: [] is "", [5] is "5". */
		if (!v->len)
			return 0;
		if (v->len == 1 && v->u.a[0].type != HF_FV_ARR && v->u.a[0].type != HF_FV_OBJ)
			return v->u.a[0].type == HF_FV_NULL ? 0 :
			       v->u.a[0].type == HF_FV_BOOL ? NAN : hf_js_tonumber(&v->u.a[0]);
		return NAN;
	case HF_FV_OBJ:
		return NAN;
	}
	return NAN;
}

/* Number::toString(10): the shortest digits that read back the same,
 * fixed notation from 1e-7 to 1e21, exponent notation outside. */
size_t hf_js_numstr(double d, char *buf)
{
	char digits[40], tmp[40];
	int prec, exp10, nd, i, o = 0;
	char *p;

	if (isnan(d))
		return (size_t)sprintf(buf, "NaN");
	if (isinf(d))
		return (size_t)sprintf(buf, d > 0 ? "Infinity" : "-Infinity");
	if (d == 0)
		return (size_t)sprintf(buf, "0");
	if (d == trunc(d) && fabs(d) < 1e15)
		return (size_t)sprintf(buf, "%lld", (long long)d);
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (d < 0)
		buf[o++] = '-';
	/* tmp is "-D.DDDDe+XX": collect the digits and the exponent. */
	nd = 0;
	for (p = tmp; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	exp10 = atoi(p + 1) + 1;      /* the decimal point sits after 'exp10' digits */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (exp10 >= nd && exp10 <= 21) {
		for (i = 0; i < exp10; i++)
			buf[o++] = i < nd ? digits[i] : '0';
	} else if (exp10 > 0 && exp10 <= 21) {
		for (i = 0; i < nd; i++) {
			if (i == exp10)
				buf[o++] = '.';
			buf[o++] = digits[i];
		}
	} else if (exp10 <= 0 && exp10 > -6) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (i = 0; i < -exp10; i++)
			buf[o++] = '0';
		for (i = 0; i < nd; i++)
			buf[o++] = digits[i];
	} else {
		buf[o++] = digits[0];
		if (nd > 1)
			buf[o++] = '.';
		for (i = 1; i < nd; i++)
			buf[o++] = digits[i];
		o += sprintf(buf + o, "e%c%d", exp10 - 1 >= 0 ? '+' : '-', abs(exp10 - 1));
	}
	buf[o] = 0;
	return (size_t)o;
}

/* Append 'v' as ToString would write it; arrays join their items with
 * ',' (null items as nothing), objects are "[object Object]". */
static int append_str(const struct hf_fv *v, struct hf_flagarena *a, int top)
{
	char num[40];
	const char *s = num;
	size_t n = 0;
	uint32_t i;
	char *dst;

	switch (v->type) {
	case HF_FV_NULL:
		s = top ? "null" : "";
		n = strlen(s);
		break;
	case HF_FV_BOOL:
		s = v->u.b ? "true" : "false";
		n = strlen(s);
		break;
	case HF_FV_NUM:
		n = hf_js_numstr(v->u.n, num);
		break;
	case HF_FV_STR:
		s = v->u.s;
		n = v->len;
		break;
	case HF_FV_OBJ:
		s = "[object Object]";
		n = strlen(s);
		break;
	case HF_FV_ARR:
		for (i = 0; i < v->len; i++) {
			if (i && append_str(&(struct hf_fv){ .type = HF_FV_STR, .len = 1, .u.s = "," },
					    a, 0))
				return -1;
			if (append_str(&v->u.a[i], a, 0))
				return -1;
		}
		return 0;
	}
	dst = hf_arena_alloc(a, n);
	if (!dst && n)
		return -1;
	if (n)
		memcpy(dst, s, n);
	return 0;
}

int hf_js_tostring(const struct hf_fv *v, struct hf_flagarena *a, const char **s, uint32_t *len)
{
	size_t start;

	if (v->type == HF_FV_STR) {
		*s = v->u.s;
		*len = v->len;
		return 0;
	}
	/* The pieces land one after the other: allocations are contiguous
	 * because hf_arena_alloc of 1-byte alignment does not pad them. */
	start = a->used;
	if (append_str(v, a, 1))
		return -1;
	*s = a->buf + start;
	*len = (uint32_t)(a->used - start);
	return 0;
}

static int is_prim(const struct hf_fv *v)
{
	return v->type != HF_FV_ARR && v->type != HF_FV_OBJ;
}

static int str_eq(const struct hf_fv *a, const struct hf_fv *b)
{
	return a->len == b->len && hf_bytes_eq(a->u.s, b->u.s, a->len);
}

int hf_js_strict_eq(const struct hf_fv *a, const struct hf_fv *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case HF_FV_NULL:
		return 1;
	case HF_FV_BOOL:
		return a->u.b == b->u.b;
	case HF_FV_NUM:
		return a->u.n == b->u.n;
	case HF_FV_STR:
		return str_eq(a, b);
	case HF_FV_ARR:
		return a->u.a == b->u.a && a->len == b->len;
	case HF_FV_OBJ:
		return a->u.o == b->u.o && a->len == b->len;
	}
	return 0;
}

/* An array's ToPrimitive, its joined text, compared with a primitive.
 * The join needs scratch memory: a local arena is enough for the short
 * arrays a rule compares. */
static int array_vs_prim(const struct hf_fv *arr, const struct hf_fv *p)
{
	char buf[512];
	struct hf_flagarena a = { buf, sizeof(buf), 0 };
	struct hf_fv s = { .type = HF_FV_STR };

	if (arr->type == HF_FV_OBJ) {
		s.u.s = "[object Object]";
		s.len = 15;
	} else if (hf_js_tostring(arr, &a, &s.u.s, &s.len)) {
		return 0;
	}
	return hf_js_loose_eq(&s, p);
}

int hf_js_loose_eq(const struct hf_fv *a, const struct hf_fv *b)
{
	struct hf_fv n;

	if (a->type == b->type)
		return hf_js_strict_eq(a, b);
	if (a->type == HF_FV_NULL || b->type == HF_FV_NULL)
		return 0;
	if (a->type == HF_FV_BOOL || b->type == HF_FV_BOOL) {
		const struct hf_fv *bo = a->type == HF_FV_BOOL ? a : b;
		const struct hf_fv *other = bo == a ? b : a;

		n.type = HF_FV_NUM;
		n.u.n = bo->u.b;
		return hf_js_loose_eq(&n, other);
	}
	if (is_prim(a) && is_prim(b))   /* a number and a string */
		return hf_js_tonumber(a) == hf_js_tonumber(b);
	if (!is_prim(a) && !is_prim(b))
		return 0;
	return is_prim(a) ? array_vs_prim(b, a) : array_vs_prim(a, b);
}

/* The next UTF-16 code unit of a UTF-8 string at '*i', advancing over a
 * whole code point once its last unit is read ('*low' tracks a pending
 * low surrogate). */
static unsigned next_unit(const unsigned char *s, uint32_t len, uint32_t *i, unsigned *low)
{
	unsigned cp, c = s[*i];
	int n;

	if (*low) {
		cp = *low;
		*low = 0;
		return cp;
	}
	n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (*i + (uint32_t)n > len)
		n = (int)(len - *i);
	cp = n == 1 ? c : c & (0x7f >> n);
	for (int k = 1; k < n; k++)
		cp = cp << 6 | (s[*i + k] & 0x3f);
	*i += (uint32_t)n;
	if (cp >= 0x10000) {
		cp -= 0x10000;
		*low = 0xdc00 + (cp & 0x3ff);
		return 0xd800 + (cp >> 10);
	}
	return cp;
}

int hf_js_strcmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	uint32_t i = 0, j = 0;
	unsigned la = 0, lb = 0;

	while ((i < alen || la) && (j < blen || lb)) {
		unsigned ua = next_unit(x, alen, &i, &la), ub = next_unit(y, blen, &j, &lb);

		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
	if (i < alen || la)
		return 1;
	return j < blen || lb ? -1 : 0;
}

uint32_t hf_js_u16len(const char *s, uint32_t len)
{
	uint32_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c & 0xc0) != 0x80)
			n += c >= 0xf0 ? 2 : 1;
	}
	return n;
}

int hf_js_less(const struct hf_fv *a, const struct hf_fv *b, int le)
{
	char ba[512], bb[512];
	struct hf_flagarena aa = { ba, sizeof(ba), 0 }, ab = { bb, sizeof(bb), 0 };
	struct hf_fv pa = *a, pb = *b;
	double x, y;

	/* ToPrimitive: arrays and objects become their text. */
	if (!is_prim(a)) {
		pa.type = HF_FV_STR;
		if (hf_js_tostring(a, &aa, &pa.u.s, &pa.len))
			return 0;
	}
	if (!is_prim(b)) {
		pb.type = HF_FV_STR;
		if (hf_js_tostring(b, &ab, &pb.u.s, &pb.len))
			return 0;
	}
	if (pa.type == HF_FV_STR && pb.type == HF_FV_STR) {
		int c = hf_js_strcmp(pa.u.s, pa.len, pb.u.s, pb.len);

		return le ? c <= 0 : c < 0;
	}
	x = hf_js_tonumber(&pa);
	y = hf_js_tonumber(&pb);
	if (isnan(x) || isnan(y))
		return 0;
	return le ? x <= y : x < y;
}
