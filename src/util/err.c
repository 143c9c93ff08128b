/* Error records and their mapping to exit codes. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

int hf_err_set(struct hf_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int hf_exit_code(int code)
{
	switch (code) {
	case HF_OK:
		return 0;
	case HF_EINVAL:
		return 2;
	case HF_EGUARD:
		return 3;
	case HF_EHUMAN:
	case HF_EUNREACH:
	case HF_ECONFLICT:
		return 4;
	case HF_EREFUSED:
		return 5;
	default:
		return 1;
	}
}
