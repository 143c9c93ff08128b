/* The spec of a 'function' change, for the kind's own file and its tests. */
#ifndef HF_KINDS_FUNCTION_H
#define HF_KINDS_FUNCTION_H

#include <stddef.h>

struct hf_function_spec {
	char *library;            /* the library name */
	char *file;               /* the file as written, relative to the manifest */
	char *code;               /* the file's contents */
	size_t codelen;
	char code_sha256[65];     /* ties a resumed run to the same code */
};

#endif
