/* A growable, always NUL-terminated byte buffer, and a vector of strings. */
#ifndef HF_UTIL_BUF_H
#define HF_UTIL_BUF_H

#include <stddef.h>

struct hf_buf {
	char *s;        /* NUL-terminated, NULL until the first append */
	size_t len;
	size_t cap;
};

void hf_buf_append(struct hf_buf *b, const char *data, size_t len);
void hf_buf_puts(struct hf_buf *b, const char *s);
void hf_buf_printf(struct hf_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Hand the string over: caller frees with free(). Leaves 'b' empty. */
char *hf_buf_detach(struct hf_buf *b);
void hf_buf_release(struct hf_buf *b);

/* Append the file 'path' (at most 'max' bytes) to 'out': 0, an errno, or
 * EFBIG when it is longer. */
int hf_file_read(const char *path, size_t max, struct hf_buf *out);

/* Allocation helpers that abort on out-of-memory, like git's xmalloc. */
void *hf_xmalloc(size_t n);
void *hf_xcalloc(size_t n, size_t size);
void *hf_xrealloc(void *p, size_t n);
char *hf_xstrdup(const char *s);
char *hf_xstrndup(const char *s, size_t n);
char *hf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
