/* Error codes and the error record that every fallible call fills.
 * Only src/main.c turns these codes into exit codes. */
#ifndef HF_UTIL_ERR_H
#define HF_UTIL_ERR_H

#include <stddef.h>

enum hf_code {
	HF_OK = 0,
	HF_ERR = -1,         /* runtime error                                  -> exit 1 */
	HF_EINVAL = -2,      /* invalid input, nothing was changed             -> exit 2 */
	HF_EGUARD = -3,      /* rolled back by the guard                       -> exit 3 */
	HF_EHUMAN = -4,      /* conflicts or unreachable targets remain        -> exit 4 */
	HF_EREFUSED = -5,    /* refused: lock held, no confirmation, ...       -> exit 5 */
	HF_EUNREACH = -6,    /* a node did not answer in time (maps to 4 at the top) */
	HF_ECONFLICT = -7,   /* a target changed since apply (maps to 4 at the top)  */
};

struct hf_err {
	int code;
	char msg[2048];
};

/* Fill 'err' (which may be NULL) with 'code' and a printf-style message.
 * Returns 'code', so callers can write 'return hf_err_set(err, ...)'. */
int hf_err_set(struct hf_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Map an hf_code to the process exit code documented in the README. */
int hf_exit_code(int code);

#endif
