/* Clocks, durations, hashing, directories and crash points. */
#include "util/misc.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

long long hf_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long hf_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long hf_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hf_fmt_time(long long ms, char *out, size_t outlen)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
}

void hf_fmt_duration(long long ms, char *out, size_t outlen)
{
	if (ms < 1000)
		snprintf(out, outlen, "%lldms", ms);
	else if (ms < 60000)
		snprintf(out, outlen, "%.1fs", (double)ms / 1000.0);
	else
		snprintf(out, outlen, "%lldm%02llds", ms / 60000, (ms % 60000) / 1000);
}

int hf_duration_parse(const char *s, long long *ms)
{
	char *end;
	double v;
	double unit;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	/* strtod reads "nan" and "inf" too: "nans" is no duration, and NaN
	 * cast to an integer is undefined. */
	if (errno || end == s || !isfinite(v))
		return -1;
	if (!strcmp(end, "ms"))
		unit = 1;
	else if (!strcmp(end, "s"))
		unit = 1000;
	else if (!strcmp(end, "m"))
		unit = 60000;
	else if (!strcmp(end, "h"))
		unit = 3600000;
	else if (!*end && v == 0)
		unit = 0;   /* a bare "0" is the only unitless duration */
	else
		return -1;
	if (v < 0 || v * unit > 7 * 24 * 3600000.0)
		return -1;
	*ms = (long long)(v * unit + 0.5);
	return 0;
}

unsigned long long hf_fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned long long h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void hf_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	static const char hex[] = "0123456789abcdef";

	/* No printf per byte: the journal's chain is hashed event by event. */
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

const char *hf_operator(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw && pw->pw_name ? pw->pw_name : "unknown";
}

char *hf_base64_encode(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (!out)
		abort();
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int hf_base64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *buf;
	int got;

	if (n % 4)
		return -1;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		abort();
	got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(buf);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as data. */
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	*out = buf;
	*len = (size_t)got - pad;
	return 0;
}

/* mkdir() that counts a directory already there as made. */
static int make_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (!mkdir(path, mode))
		return 0;
	if (errno != EEXIST || stat(path, &st))
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int hf_mkdir_p(const char *path, mode_t mode, struct hf_err *err)
{
	char *p = hf_xstrdup(path), *s = p;
	int rc = 0;

	/* Each prefix that ends a name, shortest first: "/a", "/a/b", ... */
	do {
		char c;

		s += strspn(s, "/");
		s += strcspn(s, "/");
		c = *s;
		*s = '\0';
		if (make_dir(p, mode)) {
			rc = hf_err_set(err, HF_ERR, "cannot create '%s': %s", p, strerror(errno));
			break;
		}
		*s = c;
	} while (*s);
	free(p);
	return rc;
}

void hf_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void hf_crashpoint(const char *name)
{
	static int hits;
	const char *spec = getenv("HOTFIX_CRASH_AT");
	const char *colon;
	size_t n;
	int want = 1;

	if (!spec || !*spec)
		return;
	colon = strchr(spec, ':');
	n = colon ? (size_t)(colon - spec) : strlen(spec);
	if (strlen(name) != n || strncmp(spec, name, n))
		return;
	if (colon)
		want = atoi(colon + 1);
	if (++hits < want)
		return;
	fflush(stdout);
	fflush(stderr);
	kill(getpid(), SIGKILL);
}
