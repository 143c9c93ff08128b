/* A Prometheus client for the guard: instant queries over the HTTP API
 * (/api/v1/query), many at once. The guard's PromQL checks (guard.c)
 * read any engine's metrics through it. */
#ifndef HF_CORE_PROM_H
#define HF_CORE_PROM_H

#include <stddef.h>

#include "util/err.h"

struct hf_prom;

/* The answer to one query. */
struct hf_prom_result {
	int ok;              /* Prometheus answered with a result */
	double *v;           /* its values (a vector's samples, or a scalar);
			      * NaN samples left out */
	size_t n;
	char why[256];       /* !ok: what went wrong (HTTP, Prometheus' error) */
};

/* A client of the Prometheus at 'base' (http:// or https://, its root:
 * "/api/v1/query" is appended), each query bounded by 'timeout_ms'. */
struct hf_prom *hf_prom_new(const char *base, long timeout_ms);
void hf_prom_free(struct hf_prom *p);

/* Evaluate the 'n' expressions now, all at once (a few connections kept
 * open between calls), into 'out' (n entries; release each with
 * hf_prom_result_release()). */
void hf_prom_query(struct hf_prom *p, char *const *exprs, size_t n, struct hf_prom_result *out);

void hf_prom_result_release(struct hf_prom_result *r);

/* Read the body of an /api/v1/query answer into 'r' (outside input: it
 * is fuzzed). Sets r->ok, or r->why when the body is an error or not an
 * answer at all. */
void hf_prom_parse(const char *body, size_t len, struct hf_prom_result *r);

#endif
