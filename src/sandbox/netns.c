/* Network namespaces for a sandbox's nodes: see netns.h. */
#include "sandbox/netns.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/misc.h"
#include "util/proc.h"

#define PREFIX "10.251"
#define IP_TIMEOUT_MS 10000
#define MAX_WORDS 16

static const char *ip_path(void)
{
	static const char *const paths[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(*paths); i++)
		if (!access(paths[i], X_OK))
			return paths[i];
	return NULL;
}

/* Run 'ip' with the words that follow (up to a NULL). */
static int ip(struct hf_err *err, ...)
{
	char *argv[MAX_WORDS + 2], out[512];
	const char *path = ip_path();
	va_list ap;
	size_t n = 1;
	int rc;

	if (!path)
		return hf_err_set(err, HF_ERR, "--netns needs iproute2's 'ip' (Debian: iproute2)");
	argv[0] = (char *)path;
	va_start(ap, err);
	while (n <= MAX_WORDS && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	rc = hf_proc_run(argv, IP_TIMEOUT_MS, out, sizeof(out));
	if (!rc)
		return 0;
	out[strcspn(out, "\n")] = 0;
	return hf_err_set(err, HF_ERR, "ip %s %s %s: %s%s", argv[1], argv[2], argv[3] ? argv[3] : "",
			  out, strstr(out, "not permitted") || strstr(out, "ermission") ?
			  " (--netns needs CAP_NET_ADMIN, as root has)" : "");
}

/* Whether an interface of this namespace has an address in 10.251.NET/24. */
static int net_in_use(int net)
{
	struct ifaddrs *all, *a;
	char want[32];
	int used = 0;

	if (getifaddrs(&all))
		return 1;
	snprintf(want, sizeof(want), PREFIX ".%d.", net);
	for (a = all; a && !used; a = a->ifa_next) {
		char text[INET_ADDRSTRLEN];

		if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET &&
		    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr, text,
			      sizeof(text)))
			used = !strncmp(text, want, strlen(want));
	}
	freeifaddrs(all);
	return used;
}

/* Node 'i''s namespace and the host's end of its veth pair (both names
 * short: i < HF_NETNS_MAX_NODES). */
static void names(int net, size_t i, char ns[32], char veth[16])
{
	snprintf(ns, 32, "hotfix-%d-%u", net & 255, (unsigned)(i & 255));
	snprintf(veth, 16, "hfv%dn%u", net & 255, (unsigned)(i & 255));
}

void hf_netns_host(int net, size_t i, char *out, size_t len)
{
	snprintf(out, len, PREFIX ".%d.%zu", net, i + 1);
}

/* Make bridge "hfbrNET" up with address .254: the claim on NET (a bridge
 * of that name already there fails). */
static int make_bridge(int net, struct hf_err *err)
{
	char br[16], addr[32];
	int rc;

	snprintf(br, sizeof(br), "hfbr%d", net);
	snprintf(addr, sizeof(addr), PREFIX ".%d.254/24", net);
	rc = ip(err, "link", "add", br, "type", "bridge", NULL);
	if (!rc && ((rc = ip(err, "addr", "add", addr, "dev", br, NULL)) ||
		    (rc = ip(err, "link", "set", br, "up", NULL))))
		ip(NULL, "link", "del", br, NULL);
	return rc;
}

static int make_node(int net, size_t i, struct hf_err *err)
{
	char ns[32], veth[16], br[16], addr[64], host[32];
	int rc;

	names(net, i, ns, veth);
	snprintf(br, sizeof(br), "hfbr%d", net);
	hf_netns_host(net, i, host, sizeof(host));
	snprintf(addr, sizeof(addr), "%s/24", host);
	/* A link of that name is a leftover of a sandbox of this network
	 * that is gone (the bridge, our claim on it, was free). */
	ip(NULL, "link", "del", veth, NULL);
	if ((rc = ip(err, "netns", "add", ns, NULL)))
		return rc;
	if ((rc = ip(err, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
		     NULL)) ||
	    (rc = ip(err, "link", "set", veth, "master", br, "up", NULL)) ||
	    (rc = ip(err, "-n", ns, "addr", "add", addr, "dev", "eth0", NULL)) ||
	    (rc = ip(err, "-n", ns, "link", "set", "eth0", "up", NULL)))
		return rc;
	return ip(err, "-n", ns, "link", "set", "lo", "up", NULL);
}

int hf_netns_create(size_t n, int *net, struct hf_err *err)
{
	size_t i;
	int k, rc = hf_err_set(err, HF_ERR, "--netns: no free network " PREFIX ".N.0/24 (1-250)");

	if (n > HF_NETNS_MAX_NODES)
		return hf_err_set(err, HF_EINVAL, "--netns: at most %d nodes (%zu asked for)",
				  HF_NETNS_MAX_NODES, n);
	for (k = 1; k <= 250; k++) {
		if (net_in_use(k))
			continue;
		rc = make_bridge(k, err);
		if (!rc)
			break;
		if (err && !strstr(err->msg, "exists"))
			return rc;
	}
	if (rc)
		return rc;
	for (i = 0; i < n && !rc; i++)
		rc = make_node(k, i, err);
	if (rc)
		hf_netns_destroy(k, i);
	else
		*net = k;
	return rc;
}

void hf_netns_destroy(int net, size_t n)
{
	char ns[32], veth[16], br[16];
	size_t i;

	for (i = 0; i < n; i++) {
		names(net, i, ns, veth);
		/* The pair goes with either end; with the namespace only once
		 * the kernel lets it go, which may be later. */
		ip(NULL, "link", "del", veth, NULL);
		ip(NULL, "netns", "del", ns, NULL);
	}
	snprintf(br, sizeof(br), "hfbr%d", net);
	ip(NULL, "link", "del", br, NULL);
}

int hf_netns_link(int net, size_t i, int up, struct hf_err *err)
{
	char ns[32], veth[16];

	names(net, i, ns, veth);
	return ip(err, "link", "set", veth, up ? "up" : "down", NULL);
}

char **hf_netns_argv(int net, size_t i, char *const argv[])
{
	char ns[32], veth[16];
	const char *path = ip_path();
	size_t n = 0, k;
	char **out;

	names(net, i, ns, veth);
	while (argv[n])
		n++;
	out = hf_xcalloc(n + 5, sizeof(*out));
	out[0] = hf_xstrdup(path ? path : "ip");
	out[1] = hf_xstrdup("netns");
	out[2] = hf_xstrdup("exec");
	out[3] = hf_xstrdup(ns);
	for (k = 0; k < n; k++)
		out[4 + k] = argv[k];
	return out;
}

void hf_netns_argv_free(char **argv)
{
	int k;

	if (!argv)
		return;
	for (k = 0; k < 4; k++)
		free(argv[k]);
	free(argv);
}
