/* The hotfix manifest: parsing a YAML file into a validated struct.
 * Every error names FILE:LINE:COLUMN; nothing here talks to a cluster. */
#ifndef HF_CORE_MANIFEST_H
#define HF_CORE_MANIFEST_H

#include <stddef.h>

#include "core/yaml.h"
#include "util/err.h"

struct hf_change_kind;

/* One "name: value" pair of a change (a config parameter, a hash field). */
struct hf_param {
	char *name;
	char *value;
	struct hf_pos pos;
};

/* One entry of spec.changes: its kind and the kind's own spec. */
struct hf_change {
	const struct hf_change_kind *kind;
	struct hf_pos pos;        /* position of the kind's key, e.g. "config" */
	void *spec;               /* parsed and freed by the kind */
};

enum hf_order { HF_ORDER_REPLICAS_FIRST, HF_ORDER_PRIMARIES_FIRST };

struct hf_wave_spec {
	int keys;             /* "keys: N%": a share of a data change's keys, not nodes
			       * (then is_percent is 1); every wave of a data change */
	int traffic;          /* "percent: P": a share of a flag's traffic, a ramp (then
			       * is_percent is 1); every wave of a ramp */
	int is_percent;
	long count;           /* when !is_percent: number of targets, >= 1 */
	double percent;       /* when is_percent: (0, 100] */
	long long bake_ms;    /* 0 when absent */
	struct hf_pos pos;
};

struct hf_check {
	char *metric;             /* a metric of the guard's (core/judge.h), or for a
				   * 'promql' check the expression as written */
	char *promql;             /* a PromQL template (util/tpl.h), or NULL */
	int slot;                 /* promql: which of the guard's PromQL metrics */
	/* A reader check (core/reader.c) has no metric and no threshold: */
	char *reader;             /* a command template with {key}, or NULL */
	char *match;              /* an extended regex its stdout must match, or NULL */
	long keys;                /* keys read per interval */
	long long timeout_ms;     /* per read */
	char *dir;                /* the manifest's directory: where it runs */
	int has_max, has_min, has_ratio;
	double max, min, ratio;   /* ratio = max_ratio_to_baseline */
	struct hf_pos pos;
};

enum hf_unobservable { HF_UNOBS_HOLD, HF_UNOBS_ROLLBACK };

struct hf_guard {
	int present;              /* a guard mapping was given */
	int none;                 /* "guard: none" */
	long long interval_ms;    /* default 1000 */
	long long baseline_ms;    /* default 10000 */
	long failure_limit;       /* default 2 */
	enum hf_unobservable on_unobservable;  /* default hold */
	struct hf_check *checks;
	size_t nchecks;
	char *prometheus;         /* where 'promql' checks are read: a base URL, or NULL */
	struct hf_pos pos;
};

/* One entry of spec.notify: a Slack-compatible incoming webhook. */
struct hf_notify_spec {
	char *webhook;            /* an http:// or https:// URL */
	long long every_ms;       /* a status this often while the run lasts; 0: none */
	struct hf_pos pos;
};

/* One entry of spec.preflight (core/preflight.c): a dependency that must
 * be healthy before the first wave and between waves. */
struct hf_preflight {
	char *command;            /* healthy: exit 0; or NULL */
	char *url;                /* healthy: 'status' (and 'body' in it); or NULL */
	long status;              /* default 200 */
	char *body;               /* a text the body must hold, or NULL */
	long long timeout_ms;     /* default 10s */
	char *dir;                /* the manifest's directory: where a command runs */
	struct hf_pos pos;
};

struct hf_manifest {
	char *path;               /* as given */
	char *text;               /* the file's bytes, NUL-terminated */
	char *journal_text;       /* 'text' with ACL secrets replaced by their hashes:
				   * what the journal keeps (never a secret in clear) */
	size_t textlen;
	char sha256[65];          /* of 'text' */
	char *name;
	long version;
	char *owner;
	char *problem;
	struct hf_change *changes;
	size_t nchanges;
	enum hf_order order;      /* default replicas-first */
	struct hf_wave_spec *waves;  /* never empty after parsing: defaults apply */
	size_t nwaves;
	struct hf_guard guard;
	int snapshot_required;    /* spec.snapshot: required (default: check) */
	struct hf_notify_spec *notify;  /* spec.notify, in order; NULL when absent */
	size_t nnotify;
	struct hf_preflight *preflight;  /* spec.preflight, in order; NULL when absent */
	size_t npreflight;
};

/* Read and validate the manifest at 'path'. On error returns HF_EINVAL with
 * 'err' holding "PATH:LINE:COL: message" (or HF_ERR when the file cannot be
 * read). Caller frees '*out' with hf_manifest_free(). */
int hf_manifest_load(const char *path, struct hf_manifest **out, struct hf_err *err);

/* The same from bytes already in memory; 'path' is used in messages. */
int hf_manifest_parse(const char *path, const char *text, size_t len,
		      struct hf_manifest **out, struct hf_err *err);

void hf_manifest_free(struct hf_manifest *m);

const char *hf_order_name(enum hf_order o);

/* Replace every whole-token 'secret' (a token ends at a blank, a quote or
 * the end of the text) with 'hashed' in the text the journal keeps. For
 * kinds whose manifest entry holds a secret (ACL passwords): a secret is
 * never stored in clear. Returns -1 when the text holds neither, i.e. the
 * secret is not written plainly there (a YAML escape, a folded line). */
int hf_manifest_redact(struct hf_manifest *m, const char *secret, const char *hashed);

/* Does 'm' ramp flags over shares of traffic ("percent: P" waves)? */
int hf_manifest_ramps(const struct hf_manifest *m);

/* In a ramp, the share of traffic that wave 'wave' (from 1, as planned)
 * opens: -1 for the first wave when the manifest has node changes (they
 * go first, in full, "dark"), 100 for the wave added after a last ramp
 * below 100. */
double hf_manifest_ramp_share(const struct hf_manifest *m, int wave);
/* Has 'm' a change that is not ramped (it goes in the dark wave)? */
int hf_manifest_ramp_dark(const struct hf_manifest *m);

/* Does 'm' roll out over shares of keys (a data change) rather than nodes? */
int hf_manifest_over_keys(const struct hf_manifest *m);

/* spec.notify (core/notify_spec.c): parse the value of field 'f' into
 * 'm->notify'; free it. */
int hf_notify_spec_parse(struct hf_yaml *y, struct hf_field *f, struct hf_manifest *m);
void hf_notify_spec_free(struct hf_manifest *m);

/* spec.preflight (core/preflight.c): parse the value of field 'f' into
 * m->preflight; free it. */
int hf_preflight_parse(struct hf_yaml *y, struct hf_field *f, struct hf_manifest *m);
void hf_preflight_free(struct hf_manifest *m);
/* Run every preflight check of 'm' in order: 0 when all are healthy, else
 * HF_EREFUSED naming the first that is not and why (its exit status and
 * first line of output, the HTTP status, the missing text). */
int hf_preflight_run(const struct hf_manifest *m, struct hf_err *err);

/* A guard check {reader: CMD, match: RE, keys: N, timeout: T}
 * (core/reader.c): parse mapping 'item' (check number 'idx') into 'ck'. */
int hf_reader_parse(struct hf_yaml *y, struct fy_node *item, struct hf_pos at, size_t idx,
		    struct hf_check *ck);
/* 'text' (a manifest's, malloc'd copy) with the path of each webhook of
 * 'm''s spec.notify hidden: an incoming webhook's path is its secret, and
 * the API and the report show the manifest to every viewer. */
char *hf_notify_hide(const struct hf_manifest *m, const char *text);
/* Is 'url' an http:// or https:// URL with a host (what a webhook must be)? */
int hf_notify_url_ok(const char *url);

#endif
