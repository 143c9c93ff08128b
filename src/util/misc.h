/* Small helpers with no better home: clocks, durations, hashing,
 * directories, the crash points that tests use to kill hotfix at a named
 * place. */
#ifndef HF_UTIL_MISC_H
#define HF_UTIL_MISC_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Monotonic milliseconds, for deadlines and measuring. */
long long hf_mono_ms(void);
/* Monotonic microseconds, for latencies. */
long long hf_mono_us(void);
/* Wall-clock milliseconds since the epoch, for the journal. */
long long hf_wall_ms(void);
/* Format 'ms' since the epoch as "2026-11-24 02:36:43" (UTC) into 'out'. */
void hf_fmt_time(long long ms, char *out, size_t outlen);
/* Format a duration as "1.2s", "350ms", "2m05s". */
void hf_fmt_duration(long long ms, char *out, size_t outlen);

/* Parse a duration: "0", "250ms", "10s", "1.5s", "2m", "1h".
 * Returns 0 and sets '*ms', or -1 when 's' is not a duration. */
int hf_duration_parse(const char *s, long long *ms);

/* FNV-1a (64 bits) of a byte string: a fast hash for tables and shares,
 * not a digest. */
unsigned long long hf_fnv1a(const void *data, size_t len);

/* SHA-256 of a byte string as 64 lowercase hex digits plus NUL. */
void hf_sha256_hex(const void *data, size_t len, char out[65]);

/* Who runs this process: $USER, else the passwd entry, else "unknown". */
const char *hf_operator(void);

/* Base64 (RFC 4648) of 'len' bytes; caller frees. */
char *hf_base64_encode(const void *data, size_t len);
/* The bytes of base64 text 's' into '*out' (caller frees) and '*len';
 * -1 when 's' is not base64. */
int hf_base64_decode(const char *s, unsigned char **out, size_t *len);

/* Create directory 'path' and each missing parent with 'mode', as mkdir -p
 * does; one that exists already must be a directory (or a link to one).
 * Returns 0, or HF_ERR with 'err' naming the directory that could not be
 * created and why. */
int hf_mkdir_p(const char *path, mode_t mode, struct hf_err *err);

/* Sleep for 'ms' milliseconds (only for poll loops with a deadline). */
void hf_sleep_ms(long ms);

/* Fault injection for crash tests: when the environment variable
 * HOTFIX_CRASH_AT is "NAME" or "NAME:N", the Nth time (default first)
 * execution reaches crash point 'name', the process kills itself with
 * SIGKILL, exactly as an operator's kill -9 would. */
void hf_crashpoint(const char *name);

#endif
