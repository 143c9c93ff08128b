/* Network namespaces for a sandbox's nodes (sandbox up --netns), so that a
 * drill can cut one node off from the rest and heal it again. Each node
 * lives in a namespace of its own, "hotfix-NET-I", joined by a veth pair to
 * a bridge "hfbrNET" in hotfix's namespace; the nodes have the addresses
 * 10.251.NET.1 and up, the bridge 10.251.NET.254 — private addresses on
 * this machine only. Cutting a node off is taking its veth down. The
 * work is done by iproute2's 'ip', as an operator would: it needs
 * CAP_NET_ADMIN. */
#ifndef HF_SANDBOX_NETNS_H
#define HF_SANDBOX_NETNS_H

#include <stddef.h>

#include "util/err.h"

#define HF_NETNS_MAX_NODES 250

/* Claim a network NET (1-250) no interface uses, by making its bridge,
 * and give each of 'n' nodes its namespace and link. On failure nothing
 * is left behind. */
int hf_netns_create(size_t n, int *net, struct hf_err *err);

/* Remove the namespaces of 'n' nodes and the bridge of 'net' (what is
 * left of them: none of it missing is an error). */
void hf_netns_destroy(int net, size_t n);

/* Take node 'i''s link down ('up' 0: cut off from everything) or up. */
int hf_netns_link(int net, size_t i, int up, struct hf_err *err);

/* Node 'i''s address ("10.251.NET.I+1"). */
void hf_netns_host(int net, size_t i, char *out, size_t len);

/* The words that run a program in node 'i''s namespace: 'argv' (up to
 * its NULL) after "ip netns exec NAME". Caller frees the array and its
 * first four strings with hf_netns_argv_free(). */
char **hf_netns_argv(int net, size_t i, char *const argv[]);
void hf_netns_argv_free(char **argv);

#endif
