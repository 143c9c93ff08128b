/* Client-version reader checks (S35): after a wave of a data hotfix, a
 * command the operator writes reads keys the wave changed the way their
 * applications do, and must succeed with the output they expect:
 *
 *   guard:
 *     checks:
 *       - reader: "./reader-v2 get {key}"    # {key}, and {host} {port}...
 *         match: '^\{"v":2'                  # optional: extended regex on stdout
 *                                           # (without its last newline)
 *         keys: 3                            # read per interval, default 3
 *         timeout: 5s                        # per read, default 10s
 *
 * The rollout hands the reads the keys; a failed read fails the guard's
 * interval, explained with the key and the reader's output. */
#ifndef HF_CORE_READER_H
#define HF_CORE_READER_H

#include <stddef.h>

#include "core/journal.h"
#include "core/manifest.h"
#include "engine/redis/redis.h"

/* Run reader check 'k' for each of the 'n' keys (node: the primary that
 * holds them) until one fails: the reads done are returned, and the
 * first failure ("reader `CMD` on key K: exit 1: OUTPUT") goes to 'why'
 * ("" when all passed). A key with a NUL byte, which no command line can
 * hold, is not read. */
size_t hf_reader_run(const struct hf_check *k, const struct hf_cluster *c,
		     const struct hf_node *node, const struct hf_key_record *keys, size_t n,
		     char *why, size_t len);

#endif
