/* The inventory of the exec engine (--cluster exec:FILE): the nodes of a
 * cluster hotfix does not speak the protocol of, each driven by commands
 * an operator writes. A YAML file (contract):
 *
 *   apiVersion: hotfix/v1
 *   kind: Inventory
 *   nodes:                      # static nodes, or:
 *     - {id: m1, host: 127.0.0.1, port: 2379, group: main, role: replica,
 *        labels: {name: m1}}
 *   discover: "./discover.sh"   # prints {"nodes": [ ...same fields... ]}
 *
 * 'role' is primary or replica (a leader is a primary). The discovery
 * command runs with /bin/sh -c in the inventory's directory each time the
 * topology is needed, so a resumed run sees what changed. */
#ifndef HF_ENGINE_EXEC_INVENTORY_H
#define HF_ENGINE_EXEC_INVENTORY_H

#include <stddef.h>

#include "util/err.h"

struct hf_inv_label {
	char *key, *value;
};

struct hf_inv_node {
	char *id;
	char *host;
	int port;
	int primary;                /* role: primary (1) or replica (0) */
	char *group;
	struct hf_inv_label *labels;
	size_t nlabels;
};

struct hf_inventory {
	char *path;                 /* the file, as given */
	char *dir;                  /* its directory (absolute): where 'discover' runs */
	char *discover;             /* the discovery command, or NULL */
	struct hf_inv_node *nodes;  /* the static nodes, or the last discovery's */
	size_t n;
};

/* Read inventory 'path' (hf_inventory_parse() on its bytes). */
int hf_inventory_load(const char *path, struct hf_inventory **out, struct hf_err *err);

/* Parse the inventory 'text' of file 'path': HF_EINVAL with
 * "PATH:LINE:COL: why" for anything the contract does not allow (unknown
 * fields, a bad role, port or label, two nodes with one id or one
 * address, both or neither of 'nodes' and 'discover'). */
int hf_inventory_parse(const char *path, const char *text, size_t len,
		       struct hf_inventory **out, struct hf_err *err);

/* The nodes now: the static ones, or what 'discover' prints (run for at
 * most 'timeout_ms'). HF_ERR when the command fails (its exit status and
 * stderr named), HF_EINVAL when its output is not an inventory ("discover
 * (CMD): nodes[2].port: ..."). */
int hf_inventory_refresh(struct hf_inventory *inv, long timeout_ms, struct hf_err *err);

/* Parse a discovery's output 'text' into inv's nodes ('what' names the
 * command in messages). */
int hf_inventory_from_json(struct hf_inventory *inv, const char *what, const char *text,
			   size_t len, struct hf_err *err);

/* Label 'key' of 'n', or NULL. */
const char *hf_inv_label(const struct hf_inv_node *n, const char *key);

void hf_inventory_free(struct hf_inventory *inv);

#endif
