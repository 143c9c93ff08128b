/* Child processes: running a program for its output, starting one that
 * outlives hotfix or one that hotfix reaps, and looking at processes by
 * pid. No child inherits a descriptor of hotfix's own (the journal, its
 * lock): each closes everything above stderr before exec. */
#ifndef HF_UTIL_PROC_H
#define HF_UTIL_PROC_H

#include <stddef.h>

/* Run 'argv' (argv[0] a path), wait at most 'timeout_ms', and keep the first
 * 'outlen' - 1 bytes of its stdout and stderr together in 'out'. Returns the
 * exit status (0..255), 128 + N when signal N ended it, or -1 when it could
 * not be started or outlived the timeout (then it is killed); 'out' then
 * says why. */
int hf_proc_run(char *const argv[], long timeout_ms, char *out, size_t outlen);

/* A command run for its output, with input of its own: hf_proc_exec(). */
struct hf_proc_io {
	const char *in;         /* its stdin (then end of file), or NULL: nothing */
	size_t inlen;
	const char *cwd;        /* where it runs, or NULL: here */
	size_t max;             /* keep at most this much of each output (0: 1 MiB) */
	/* OUT: its stdout and stderr, NUL-terminated (never NULL after the
	 * call), each cut at 'max' bytes, with 'cut' set when one was. */
	char *out, *err;
	size_t outlen, errlen;
	int cut;
	char why[256];          /* OUT: why it did not run or was killed */
};

/* Run 'argv' (argv[0] a path) with io->in on its stdin, its stdout and
 * stderr kept apart, in a process group of its own that is killed whole
 * (SIGKILL) when it outlives 'timeout_ms'. Returns the exit status
 * (0..255), 128 + N when signal N ended it, or -1 when it could not be
 * started or was killed for its time (io->why says which). Free the
 * outputs with hf_proc_io_release(). */
int hf_proc_exec(char *const argv[], long timeout_ms, struct hf_proc_io *io);
void hf_proc_io_release(struct hf_proc_io *io);

/* The first line of a command's output 's', at most 'max' bytes of it,
 * into 'out' ('cap' bytes): what messages quote of it. */
void hf_proc_first_line(const char *s, size_t max, char *out, size_t cap);

/* Start 'argv' detached: in its own session, in directory 'cwd' (NULL: stay),
 * stdin and stdout on /dev/null, stderr appended to 'log' (NULL: /dev/null),
 * not a child of hotfix (nothing to reap). Returns 0 once the program is
 * executing, or -1 with 'why' filled when it could not be. */
int hf_proc_spawn(char *const argv[], const char *cwd, const char *log, char *why, size_t whylen);

/* Start 'argv' as a child of hotfix: stdin on /dev/null, stdout and stderr
 * into 'log' (created or truncated, mode 0600; NULL: /dev/null). Returns its
 * pid once the program is executing, or -1 with 'why' filled when it could
 * not be. The caller reaps it: hf_proc_ended() or hf_proc_kill(). */
int hf_proc_start(char *const argv[], const char *log, char *why, size_t whylen);

/* Has child 'pid' (from hf_proc_start()) ended? Never waits. Returns 0 while
 * it runs; 1 once it has ended, reaped now, with 'why' empty after exit
 * status 0 and otherwise saying how it ended ("exit status 1", "signal 9");
 * 1 with 'why' empty too when 'pid' is no child to wait for (reaped
 * already), as nothing of it is left to wait for either. */
int hf_proc_ended(int pid, char *why, size_t whylen);

/* Kill child 'pid' (SIGKILL) and reap it. */
void hf_proc_kill(int pid);

/* Whether process 'pid' exists and is not a zombie. */
int hf_proc_alive(int pid);

/* The command line of process 'pid' into 'buf' (its arguments joined by
 * spaces, at most 'len' - 1 bytes). Returns its length, or -1 when it
 * cannot be read (no such process). */
int hf_proc_cmdline(int pid, char *buf, size_t len);

/* Whether process 'pid''s command line contains 'needle'. */
int hf_proc_cmdline_has(int pid, const char *needle);

/* Make sure this process, and the children it starts from now on, may
 * open at least 'need' file descriptors: the soft RLIMIT_NOFILE is raised
 * up to the hard limit when it is lower. Returns 0 when the limit is (now)
 * at least 'need', else -1 with '*limit' the most it can be. */
int hf_proc_fds_reserve(long need, long *limit);

#endif
