/* Child processes: running a program for its output, and starting a server
 * that outlives hotfix. No child inherits a descriptor of hotfix's own (the
 * journal, its lock): each closes everything above stderr before exec. */
#ifndef HF_UTIL_PROC_H
#define HF_UTIL_PROC_H

#include <stddef.h>

/* Run 'argv' (argv[0] a path), wait at most 'timeout_ms', and keep the first
 * 'outlen' - 1 bytes of its stdout and stderr together in 'out'. Returns the
 * exit status (0..255), 128 + N when signal N ended it, or -1 when it could
 * not be started or outlived the timeout (then it is killed); 'out' then
 * says why. */
int hf_proc_run(char *const argv[], long timeout_ms, char *out, size_t outlen);

/* Start 'argv' detached: in its own session, in directory 'cwd' (NULL: stay),
 * stdin and stdout on /dev/null, stderr appended to 'log' (NULL: /dev/null),
 * not a child of hotfix (nothing to reap). Returns 0 once the program is
 * executing, or -1 with 'why' filled when it could not be. */
int hf_proc_spawn(char *const argv[], const char *cwd, const char *log, char *why, size_t whylen);

/* Whether process 'pid' exists and is not a zombie. */
int hf_proc_alive(int pid);

/* Whether '/proc/PID/cmdline' contains 'needle'. */
int hf_proc_cmdline_has(int pid, const char *needle);

#endif
