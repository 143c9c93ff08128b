/* Growable buffers and allocation helpers. */
#include "util/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
	fputs("hotfix: out of memory\n", stderr);
	abort();
}

void *hf_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *hf_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *hf_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *hf_xstrdup(const char *s)
{
	return hf_xstrndup(s, strlen(s));
}

char *hf_xstrndup(const char *s, size_t n)
{
	char *p = hf_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *hf_xasprintf(const char *fmt, ...)
{
	struct hf_buf b = {0};
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	b.s = hf_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b.s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.s;
}

static void grow(struct hf_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 64;
	while (b->cap < need)
		b->cap *= 2;
	b->s = hf_xrealloc(b->s, b->cap);
}

void hf_buf_append(struct hf_buf *b, const char *data, size_t len)
{
	grow(b, len);
	memcpy(b->s + b->len, data, len);
	b->len += len;
	b->s[b->len] = '\0';
}

void hf_buf_puts(struct hf_buf *b, const char *s)
{
	hf_buf_append(b, s, strlen(s));
}

void hf_buf_printf(struct hf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *hf_buf_detach(struct hf_buf *b)
{
	char *s = b->s ? b->s : hf_xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void hf_buf_release(struct hf_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

int hf_file_read(const char *path, size_t max, struct hf_buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n, got = 0;
	int rc = 0;

	if (!f)
		return errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (got + n > max) {
			rc = EFBIG;
			break;
		}
		hf_buf_append(out, chunk, n);
		got += n;
	}
	if (!rc && ferror(f))
		rc = EIO;
	fclose(f);
	return rc;
}
