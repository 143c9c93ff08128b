/* The certificates of a TLS sandbox (certs.c). */
#ifndef HF_SANDBOX_CERTS_H
#define HF_SANDBOX_CERTS_H

#include "util/err.h"

/* Make a CA and, signed by it, a server certificate (127.0.0.1, ::1,
 * localhost) and a client certificate, in 'dir' (made if missing):
 * ca.crt, ca.key, server.crt, server.key, client.crt, client.key; keys
 * readable by their owner only. */
int hf_sandbox_make_certs(const char *dir, struct hf_err *err);

#endif
