/* Counting allocations in a test program: included once by a program that
 * wants to know whether a code path allocates, it replaces malloc and
 * friends (forwarding to glibc's), which the program's and its shared
 * libraries' calls resolve to, and counts calls per thread in
 * 'alloc_count'. Under ASan, whose runtime owns malloc, nothing is
 * replaced and ALLOC_COUNTING is 0: the caller skips its check. */
#ifndef HF_TEST_ALLOC_COUNT_H
#define HF_TEST_ALLOC_COUNT_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_COUNTING 0
#endif
#endif
#ifndef ALLOC_COUNTING
#define ALLOC_COUNTING 1
#endif

static _Thread_local long alloc_count;

#if ALLOC_COUNTING
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
	alloc_count++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	alloc_count++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	alloc_count++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#endif

#endif
