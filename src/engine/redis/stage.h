/* 'hotfix stage': what is read from a source cluster to build a local
 * mirror of it, and the copying into the mirror (stage.c). Only reads
 * reach the source: CONFIG GET, FUNCTION DUMP, ACL LIST, INFO, COMMAND
 * INFO, SCAN, DUMP, PEXPIRETIME (PTTL before Redis 7), TYPE, and the
 * length of each copied key (STRLEN, HLEN, LLEN, SCARD, ZCARD, XLEN) and
 * one of its elements (HRANDFIELD, LINDEX, SRANDMEMBER, ZRANDMEMBER). */
#ifndef HF_ENGINE_REDIS_STAGE_H
#define HF_ENGINE_REDIS_STAGE_H

#include <stddef.h>

#include "engine/redis/redis.h"
#include "util/err.h"

/* One thing not copied, and why. */
struct hf_stage_skip {
	char *what;
	char *why;
};

struct hf_stage_skips {
	struct hf_stage_skip *v;
	size_t n, cap;
};

/* A command of INFO commandstats, summed over the primaries and, apart,
 * over the replicas (whose counts include the writes they replicate). */
struct hf_stage_cmdstat {
	char *name;
	long long calls;         /* on the primaries */
	long long replica_calls; /* on the replicas */
	int kind;        /* 'r' readonly, 'w' write, 'o' other (COMMAND INFO's flags) */
};

struct hf_stage_source {
	struct hf_cluster *c;
	int shards, replicas;      /* replicas: the most any shard has */
	int uneven;                /* the shards do not all have 'replicas' */
	char version[32];          /* INFO server redis_version of the first primary */
	int **ranges;              /* per shard: slot ranges, pairs lo, hi */
	size_t *nranges;
	char **cfg;                /* name, value, name, value...: what is copied */
	size_t ncfg;               /* pairs */
	struct hf_stage_skips excluded;  /* parameters left out on purpose */
	char *functions;           /* FUNCTION DUMP payload, NULL when none */
	size_t functions_len;
	size_t nlibraries;
	char **acl;                /* ACL LIST lines */
	size_t nacl;
	struct hf_stage_cmdstat *cmds;
	size_t ncmds;
	double ops_per_sec;        /* instantaneous_ops_per_sec over every node */
	double ops_primaries;      /* the same over the primaries only */
	long long keys;            /* INFO keyspace db0 keys over the primaries */
};

/* Read everything but the data from the source in 'uri'. Caller releases
 * '*s' with hf_stage_source_release() whatever the result. */
int hf_stage_read(const struct hf_uri *uri, long timeout_ms, long converge_ms,
		  struct hf_stage_source *s, struct hf_err *err);
void hf_stage_source_release(struct hf_stage_source *s);

/* What applying the source's settings to the mirror did. */
struct hf_stage_setup {
	size_t cfg_set;            /* parameters set on the mirror */
	size_t cfg_same;           /* already the source's value */
	struct hf_stage_skips refused;  /* what the mirror refused, and why */
	size_t libraries;          /* function libraries restored */
	size_t users;              /* ACL users set */
};

/* Set the source's configuration parameters and function libraries on
 * every node of the mirror in 'mirror' (a seed URI). */
int hf_stage_setup(const struct hf_stage_source *s, const struct hf_uri *mirror,
		   long timeout_ms, struct hf_stage_setup *out, struct hf_err *err);
/* Set the source's ACL users on every node of the mirror; last, as it may
 * change the password of the mirror's default user. */
int hf_stage_acl(const struct hf_stage_source *s, const struct hf_uri *mirror,
		 long timeout_ms, struct hf_stage_setup *out, struct hf_err *err);

enum { HF_STAGE_STRING, HF_STAGE_HASH, HF_STAGE_LIST, HF_STAGE_SET, HF_STAGE_ZSET,
       HF_STAGE_STREAM, HF_STAGE_OTHER, HF_STAGE_NTYPES };
extern const char *const hf_stage_type_names[HF_STAGE_NTYPES];

struct hf_stage_sample {
	double share;              /* 0 < share <= 1: keys whose hash falls in it */
	long long per_primary;     /* > 0: the first N keys SCAN gives per primary */
};

struct hf_stage_copy {
	long long scanned;         /* keys SCAN returned */
	long long copied;          /* restored in the mirror */
	long long gone;            /* expired or deleted between SCAN and DUMP */
	long long failed;          /* RESTORE refused */
	char first_error[256];
	long long types[HF_STAGE_NTYPES];
	long long *key_sizes;      /* per copied key: its name's length */
	long long *value_sizes;    /* and its DUMP payload's length */
	long long *lengths;        /* STRLEN, HLEN, LLEN, SCARD, ZCARD or XLEN; -1: unknown */
	long long *elem_sizes;     /* bytes of one element (a hash's value); -1: unknown */
	unsigned char *type_of;    /* HF_STAGE_STRING... */
	size_t nsizes, capsizes;
	double seconds;
};

/* Copy a sample of every source primary's keys (database 0) into the
 * mirror's primary that owns their slot, with DUMP/RESTORE ... REPLACE and
 * their expiry time; each copied key's type, sizes and length (one more
 * pipeline per batch) are noted in 'out'. Caller frees them with
 * hf_stage_copy_release(). */
int hf_stage_data(const struct hf_stage_source *s, const struct hf_uri *mirror,
		  const struct hf_stage_sample *sample, long timeout_ms,
		  struct hf_stage_copy *out, struct hf_err *err);

void hf_stage_copy_release(struct hf_stage_copy *o);

void hf_stage_skips_release(struct hf_stage_skips *k);

#endif
