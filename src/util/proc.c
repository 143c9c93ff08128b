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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

int hf_proc_run(char *const argv[], long timeout_ms, char *out, size_t outlen)
{
	long long deadline = hf_mono_ms() + timeout_ms;
	size_t used = 0;
	int fds[2], status;
	pid_t pid;

	if (outlen)
		out[0] = '\0';
	if (pipe(fds)) {
		snprintf(out, outlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(out, outlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close_inherited(-1);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		long long left = deadline - hf_mono_ms();
		char buf[512];
		ssize_t k;

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
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
	int fds[2], err = 0, status;
	pid_t pid;
	ssize_t k;

	/* The grandchild reports a failed exec through a close-on-exec pipe:
	 * end of file without a word means the program is running. */
	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		int null, logfd;

		close(fds[0]);
		if (setsid() < 0 || fork() != 0)
			_exit(0);   /* the intermediate child ends: the server is nobody's child */
		null = open("/dev/null", O_RDWR);
		logfd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		dup2(logfd >= 0 ? logfd : null, 2);
		close_inherited(fds[1]);
		signal(SIGPIPE, SIG_DFL);
		if (cwd && chdir(cwd))
			err = errno;
		else
			execv(argv[0], argv);
		if (!err)
			err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	do
		k = read(fds[0], &err, sizeof(err));
	while (k < 0 && errno == EINTR);
	close(fds[0]);
	if (k == (ssize_t)sizeof(err)) {
		snprintf(why, whylen, "cannot run %s%s%s: %s", argv[0], cwd ? " in " : "",
			 cwd ? cwd : "", strerror(err));
		return -1;
	}
	return 0;
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

int hf_proc_cmdline_has(int pid, const char *needle)
{
	char path[64], buf[4096];
	size_t n, i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	for (i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}
