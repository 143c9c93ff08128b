/* The spec of a 'binary' change, for the kind's own file and its tests. */
#ifndef HF_KINDS_BINARY_H
#define HF_KINDS_BINARY_H

struct hf_binary_spec {
	char *path;             /* the new server binary, absolute */
	char *restart;          /* restart command template, or NULL to restart
				 * local nodes natively */
	char *build;            /* the build id the binary must report, or NULL
				 * to ask the binary ('--version') */
	long long timeout_ms;   /* per node, from shutdown to in sync */
	int confirm;            /* a point of no return, or a shard without a
				 * replica, is accepted */
};

#endif
