/* The spec of a 'data' change, for the kind's files and its tests. */
#ifndef HF_KINDS_DATA_H
#define HF_KINDS_DATA_H

#include <stddef.h>

#include "core/manifest.h"
#include "core/yaml.h"
#include "util/buf.h"

struct hf_data_spec {
	/* Which keys: exactly one of 'match' and 'keys_file'. */
	char *match;              /* SCAN MATCH pattern on every primary */
	char *keys_file;          /* as written, relative to the manifest */
	char **keys;              /* keys_file's lines: one key per line, empty (or
				   * blank) lines and lines starting with '#' skipped,
				   * no key twice */
	size_t nkeys;
	char *type;               /* TYPE filter: string, hash, list, set, zset, stream;
				   * NULL = any (set/unset/rename imply hash; value, or a
				   * 'where' without 'field', string) */
	char *where_field;        /* hash field to test, or NULL (then 'where' tests a
				   * string's value) */
	char *where_equals;       /* NULL when there is no 'where' */
	/* What to do to each selected key (at least one operation). */
	struct hf_param *set;     /* set: hash fields and their new values */
	size_t nset;
	char *value;              /* value: a string's new value */
	char **unset;             /* unset: hash fields to remove */
	size_t nunset;
	char *rename_from, *rename_to;  /* rename: {from: F, to: G}, a hash field */
	long long ttl_ms;         /* ttl: a duration; 0 when absent */
	int persist;              /* persist: true */
	int del;                  /* delete: true (cache invalidation) */
	char *lua_file;           /* lua: as written, relative to the manifest */
	char *lua_code;           /* the file's contents: the body of a Lua function
				   * of 'key', run on the server for each key */
	char lua_sha256[65];
	long batch;               /* keys per script call (default 200) */
};

/* Parse a data change's body into ch->spec (the kind's 'parse'). */
int hf_data_parse(struct hf_yaml *y, const struct hf_field *body, struct hf_change *ch,
		  struct hf_manifest *m);
void hf_data_free(void *spec);
/* "N key(s) from 'FILE', type T" or "keys matching 'P', type T". */
void hf_data_summary(const struct hf_change *ch, struct hf_buf *out);

#endif
