/* Child processes: see proc.h. */
#include "util/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/misc.h"

/* In a child: close every descriptor above stderr but 'keep'. */
static void close_inherited(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self = d ? dirfd(d) : -1;

	if (!d) {
		for (int fd = 3; fd < 1024; fd++)
			if (fd != keep)
				close(fd);
		return;
	}
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (fd > 2 && fd != keep && fd != self)
			close(fd);
	}
	closedir(d);
}

/* Fork with a close-on-exec pipe in 'fds' for the child to report
 * through (dup2() clears the flag on a copy the child keeps as stdout).
 * Returns the child's pid, 0 in the child, or -1 with 'why' filled and
 * nothing left open. */
static pid_t fork_piped(int fds[2], char *why, size_t whylen)
{
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
	}
	return pid;
}

/* In a child that could not get to exec: hand 'e' (an errno) to the parent
 * through the report pipe 'report', and end. */
static _Noreturn void child_fail(int report, int e)
{
	ssize_t k = write(report, &e, sizeof(e));

	(void)k;   /* if even that fails, the parent sees a start that did not run */
	_exit(127);
}

/* In a child: stdin on /dev/null, stdout to 'out' and stderr to 'errfd'
 * (-1: /dev/null), no descriptor of hotfix's but 'report' left, then exec
 * 'argv' in 'cwd' (NULL: stay). If that fails, the errno goes to 'report',
 * a close-on-exec pipe whose end of file tells the parent that exec
 * succeeded; without one (-1), a message goes to stderr. Never returns. */
static _Noreturn void exec_child(char *const argv[], const char *cwd, int out, int errfd,
				  int report)
{
	int null = open("/dev/null", O_RDWR);
	int e;

	if (null >= 0)
		dup2(null, 0);
	dup2(out >= 0 ? out : null, 1);
	dup2(errfd >= 0 ? errfd : null, 2);
	close_inherited(report);
	signal(SIGPIPE, SIG_DFL);
	{
		/* A parent that blocks signals (hotfix serve, around its
		 * threads) must not hand that on: a driver it starts has to
		 * stop at the next safe point on SIGTERM or Ctrl-C. */
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	if (cwd && chdir(cwd)) {
		e = errno;
	} else {
		execv(argv[0], argv);
		e = errno;
	}
	if (report >= 0)
		child_fail(report, e);
	dprintf(2, "cannot run %s: %s", argv[0], strerror(e));
	_exit(127);
}

/* In the parent: what the child of exec_child() reported on the read end
 * 'fd' of its pipe, which is closed. Returns 0 once the program executes,
 * else the errno of the failure. */
static int exec_result(int fd)
{
	ssize_t k;
	int e = 0;

	do
		k = read(fd, &e, sizeof(e));
	while (k < 0 && errno == EINTR);
	close(fd);
	return k == (ssize_t)sizeof(e) ? e : 0;
}

int hf_proc_run(char *const argv[], long timeout_ms, char *out, size_t outlen)
{
	long long deadline = hf_mono_ms() + timeout_ms;
	size_t used = 0;
	int fds[2], status;
	pid_t pid;

	if (outlen)
		out[0] = '\0';
	pid = fork_piped(fds, out, outlen);
	if (pid < 0)
		return -1;
	if (!pid)
		exec_child(argv, NULL, fds[1], fds[1], -1);
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		long long left = deadline - hf_mono_ms();
		char buf[512];
		ssize_t k;

		if (left <= 0) {
			hf_proc_kill(pid);
			close(fds[0]);
			snprintf(out, outlen, "%s did not finish within %ld ms", argv[0], timeout_ms);
			return -1;
		}
		if (poll(&p, 1, (int)(left > 100 ? 100 : left)) <= 0)
			continue;
		k = read(fds[0], buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (outlen && used < outlen - 1) {
			size_t take = (size_t)k < outlen - 1 - used ? (size_t)k : outlen - 1 - used;

			memcpy(out + used, buf, take);
			used += take;
			out[used] = '\0';
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int hf_proc_spawn(char *const argv[], const char *cwd, const char *log, char *why, size_t whylen)
{
	int fds[2], e, status;
	pid_t pid = fork_piped(fds, why, whylen);

	if (pid < 0)
		return -1;
	if (!pid) {
		pid_t server;

		close(fds[0]);
		server = setsid() < 0 ? -1 : fork();
		if (server < 0)
			child_fail(fds[1], errno);
		if (server > 0)
			_exit(0);   /* the intermediate child ends: the server is nobody's child */
		exec_child(argv, cwd, -1, log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1,
			   fds[1]);
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	e = exec_result(fds[0]);
	if (e) {
		snprintf(why, whylen, "cannot run %s%s%s: %s", argv[0], cwd ? " in " : "",
			 cwd ? cwd : "", strerror(e));
		return -1;
	}
	return 0;
}

int hf_proc_start(char *const argv[], const char *log, char *why, size_t whylen)
{
	int fds[2], e, logfd = -1;
	pid_t pid;

	/* Opened here, so that a log that cannot be written is told apart
	 * from a program that cannot be run. */
	if (log && (logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		snprintf(why, whylen, "cannot write '%s': %s", log, strerror(errno));
		return -1;
	}
	pid = fork_piped(fds, why, whylen);
	if (!pid) {
		close(fds[0]);
		exec_child(argv, NULL, logfd, logfd, fds[1]);
	}
	if (logfd >= 0)
		close(logfd);
	if (pid < 0)
		return -1;
	close(fds[1]);
	e = exec_result(fds[0]);
	if (e) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		snprintf(why, whylen, "cannot run %s: %s", argv[0], strerror(e));
		return -1;
	}
	return (int)pid;
}

int hf_proc_ended(int pid, char *why, size_t whylen)
{
	pid_t w;
	int status;

	if (whylen)
		why[0] = '\0';
	do
		w = waitpid(pid, &status, WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == 0)
		return 0;
	if (w == pid && WIFSIGNALED(status))
		snprintf(why, whylen, "signal %d", WTERMSIG(status));
	else if (w == pid && WEXITSTATUS(status))
		snprintf(why, whylen, "exit status %d", WEXITSTATUS(status));
	return 1;
}

void hf_proc_kill(int pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int hf_proc_alive(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int alive = 0;

	if (pid <= 0 || (kill(pid, 0) && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 1;   /* no /proc: kill() said it exists */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

int hf_proc_cmdline(int pid, char *buf, size_t len)
{
	char path[64];
	size_t n, i;
	FILE *f;

	if (!len)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	/* The arguments are NUL-separated, unless the program set its title. */
	for (i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	return (int)n;
}

int hf_proc_cmdline_has(int pid, const char *needle)
{
	char buf[4096];

	return hf_proc_cmdline(pid, buf, sizeof(buf)) >= 0 && strstr(buf, needle) != NULL;
}

/* ---- hf_proc_exec --------------------------------------------------- */

#define EXEC_MAX_DEFAULT (1024 * 1024)

/* In the child of hf_proc_exec(): its pipes on 0, 1, 2, a group of its
 * own, then exec; an exec that fails goes to 'report'. */
static _Noreturn void exec_piped(char *const argv[], const char *cwd, const int in[2],
				  const int out[2], const int err[2], int report)
{
	int e;

	setpgid(0, 0);
	dup2(in[0], 0);
	dup2(out[1], 1);
	dup2(err[1], 2);
	close_inherited(report);
	signal(SIGPIPE, SIG_DFL);
	{
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	e = cwd && chdir(cwd) ? errno : 0;
	if (!e) {
		execv(argv[0], argv);
		e = errno;
	}
	child_fail(report, e);
}

struct sink {
	int fd;
	char **buf;
	size_t *len;
	size_t cap;
};

/* Read what 'k' has into its buffer, up to io->max; 0 at end of file. */
static int drain(struct sink *k, struct hf_proc_io *io)
{
	char chunk[4096];
	ssize_t r = read(k->fd, chunk, sizeof(chunk));
	size_t take;

	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (r == 0)
		return 0;
	take = (size_t)r;
	if (*k->len + take > io->max) {
		take = io->max - *k->len;
		io->cut = 1;
	}
	if (*k->len + take + 1 > k->cap) {
		k->cap = (*k->len + take + 1) * 2;
		*k->buf = hf_xrealloc(*k->buf, k->cap);
	}
	memcpy(*k->buf + *k->len, chunk, take);
	*k->len += take;
	(*k->buf)[*k->len] = 0;
	return 1;
}

/* Feed stdin and read both outputs until both end or 'deadline'. 0, or
 * -1 when the deadline came first. */
static int pump(int infd, struct sink *k, struct hf_proc_io *io, long long deadline)
{
	size_t sent = 0;
	int open_outs = 2;

	if (!io->in || !io->inlen) {
		close(infd);
		infd = -1;
	}
	while (open_outs) {
		struct pollfd p[3] = { { .fd = k[0].fd, .events = POLLIN },
				       { .fd = k[1].fd, .events = POLLIN },
				       { .fd = infd, .events = POLLOUT } };
		long long left = deadline - hf_mono_ms();
		int i;

		if (left <= 0) {
			if (infd >= 0)
				close(infd);
			return -1;
		}
		if (poll(p, 3, (int)(left > 200 ? 200 : left)) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++)
			if (k[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !drain(&k[i], io)) {
				k[i].fd = -1;
				open_outs--;
			}
		if (infd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(infd, io->in + sent, io->inlen - sent);

			if (w > 0)
				sent += (size_t)w;
			if (w < 0 && errno != EINTR && errno != EAGAIN)
				sent = io->inlen;   /* it closed its stdin: fine */
			if (sent == io->inlen) {
				close(infd);
				infd = -1;
			}
		}
	}
	if (infd >= 0)
		close(infd);
	return 0;
}

/* Wait for 'pid' until 'deadline' (0: it is past), then kill its group
 * and reap it. 0 when it ended by itself, -1 when it was killed. */
static int reap(pid_t pid, long long deadline, int *status)
{
	pid_t r;

	while (deadline && hf_mono_ms() < deadline) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 0;
		hf_sleep_ms(5);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
}

int hf_proc_exec(char *const argv[], long timeout_ms, struct hf_proc_io *io)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, rep[2], status = 0, e, rc;
	long long deadline;
	struct sink k[2] = { { .buf = &io->out, .len = &io->outlen },
			     { .buf = &io->err, .len = &io->errlen } };
	pid_t pid;

	io->out = hf_xcalloc(1, 1);
	io->err = hf_xcalloc(1, 1);
	io->outlen = io->errlen = 0;
	io->cut = 0;
	io->why[0] = 0;
	if (!io->max)
		io->max = EXEC_MAX_DEFAULT;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) ||
	    (pid = fork_piped(rep, io->why, sizeof(io->why))) < 0) {
		if (!io->why[0])
			snprintf(io->why, sizeof(io->why), "pipe: %s", strerror(errno));
		close_pair(in);
		close_pair(out);
		close_pair(err);
		return -1;
	}
	if (!pid)
		exec_piped(argv, io->cwd, in, out, err, rep[1]);
	setpgid(pid, pid);   /* also here: no race with the kill below */
	close(rep[1]);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	k[0].fd = out[0];
	k[1].fd = err[0];
	deadline = hf_mono_ms() + timeout_ms;
	if ((e = exec_result(rep[0]))) {
		snprintf(io->why, sizeof(io->why), "cannot run %s: %s", argv[0], strerror(e));
		close(in[1]);
		rc = 0;
	} else {
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);

		rc = pump(in[1], k, io, deadline);
		signal(SIGPIPE, old);
	}
	close(out[0]);
	close(err[0]);
	rc = reap(pid, rc ? 0 : deadline, &status);
	if (rc)
		snprintf(io->why, sizeof(io->why), "killed after %ld ms: it did not finish in time",
			 timeout_ms);
	if (e || rc)
		return -1;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

void hf_proc_io_release(struct hf_proc_io *io)
{
	free(io->out);
	free(io->err);
	io->out = io->err = NULL;
}

int hf_proc_fds_reserve(long need, long *limit)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		*limit = 0;
		return -1;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need) {
		*limit = (long)rl.rlim_max;
		return -1;
	}
	*limit = (long)rl.rlim_cur;
	rl.rlim_cur = (rlim_t)need;
	return setrlimit(RLIMIT_NOFILE, &rl) ? -1 : 0;
}

void hf_proc_first_line(const char *s, size_t max, char *out, size_t cap)
{
	size_t n = strcspn(s ? s : "", "\n");

	snprintf(out, cap, "%.*s", (int)(n > max ? max : n), s ? s : "");
}
