/* The hotfix manifest: parsing a YAML file into a validated struct.
 * Every error names FILE:LINE:COLUMN; nothing here talks to a cluster. */
#ifndef HF_CORE_MANIFEST_H
#define HF_CORE_MANIFEST_H

#include <stddef.h>

#include "util/err.h"

struct hf_pos {
	int line;    /* 1-based; 0 when unknown */
	int col;     /* 1-based */
};

/* One "name: value" of a config change. */
struct hf_param {
	char *name;
	char *value;
	struct hf_pos pos;
};

enum hf_kind_id {
	HF_KIND_CONFIG,
	HF_KIND_FUNCTION,
	HF_KIND_ACL,
	HF_KIND_BINARY,
	HF_KIND_DATA,
	/* Parsed names that this build does not implement yet are rejected
	 * with a clear error: flag, exec. */
};

struct hf_change {
	enum hf_kind_id kind;
	struct hf_pos pos;        /* position of the kind's key, e.g. "config" */
	struct hf_param *params;  /* config */
	size_t nparams;
	char *library;            /* function: the library name */
	char *file;               /* function: the file as written, relative to the manifest */
	char *code;               /* function: the file's contents */
	size_t codelen;
	char code_sha256[65];     /* function */
	char *acl_user;           /* acl: the user */
	char *acl_rules;          /* acl: the rules, secrets replaced by their SHA-256
				   * (">pw" -> "#hash", "<pw" -> "!hash") */
	int confirm;              /* acl: the user may be hotfix's own; binary: a
				   * point of no return or a shard without replica
				   * is accepted */
	char *bin_path;           /* binary: the new server binary, absolute */
	char *bin_restart;        /* binary: restart command template, or NULL to
				   * restart local nodes natively */
	char *bin_build;          /* binary: the build id the binary must report,
				   * or NULL to ask the binary ('--version') */
	long long bin_timeout_ms; /* binary: per node, from shutdown to in sync */

	/* data: which keys (exactly one of 'match' and 'keys_file') */
	char *data_match;         /* SCAN MATCH pattern on every primary */
	char *keys_file;          /* as written, relative to the manifest */
	char **keys;              /* keys_file's lines: one key per line, empty (or blank)
				   * lines and lines starting with '#' skipped, no key twice */
	size_t nkeys;
	char *data_type;          /* TYPE filter: string, hash, list, set, zset, stream;
				   * NULL = any (set/unset/rename imply hash; value, or a
				   * 'where' without 'field', string) */
	char *where_field;        /* hash field to test, or NULL (then 'where' tests a
				   * string's value) */
	char *where_equals;       /* NULL when there is no 'where' */
	/* data: what to do to each selected key (at least one operation) */
	struct hf_param *data_set;  /* set: hash fields and their new values */
	size_t ndata_set;
	char *data_value;         /* value: a string's new value */
	char **data_unset;        /* unset: hash fields to remove */
	size_t ndata_unset;
	char *rename_from, *rename_to;  /* rename: {from: F, to: G}, a hash field */
	long long data_ttl_ms;    /* ttl: a duration; 0 when absent */
	int data_persist;         /* persist: true */
	int data_delete;          /* delete: true (cache invalidation) */
	char *lua_file;           /* lua: as written, relative to the manifest */
	char *lua_code;           /* the file's contents: the body of a Lua function
				   * of 'key', run on the server for each key */
	char lua_sha256[65];
	long batch;               /* keys per script call (default 200) */
};

enum hf_order { HF_ORDER_REPLICAS_FIRST, HF_ORDER_PRIMARIES_FIRST };

struct hf_wave_spec {
	int keys;             /* "keys: N%": a share of a data change's keys, not nodes
			       * (then is_percent is 1); every wave of a data change */
	int is_percent;
	long count;           /* when !is_percent: number of targets, >= 1 */
	double percent;       /* when is_percent: (0, 100] */
	long long bake_ms;    /* 0 when absent */
	struct hf_pos pos;
};

struct hf_check {
	char *metric;
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

#endif
