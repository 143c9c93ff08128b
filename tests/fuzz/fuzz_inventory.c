/* libFuzzer target: the exec engine's inventory, from YAML bytes (and the
 * same bytes as a discovery's JSON output) to nodes or an error, must
 * neither crash, leak nor write out of bounds; a YAML error names
 * FILE:LINE:COL, and every node read holds fields the contract allows.
 * Built by 'make fuzz' (clang, -DHF_FUZZ=ON). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/exec/inventory.h"

static const char path[] = "fuzz-inventory.yaml";

static void check_nodes(const struct hf_inventory *inv)
{
	size_t i;

	for (i = 0; i < inv->n; i++) {
		const struct hf_inv_node *n = &inv->nodes[i];

		if (!n->id[0] || !n->host[0] || !n->group[0] || n->port < 1 || n->port > 65535)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_inventory *inv = NULL, *from_json;
	struct hf_err err = {0};
	int rc = hf_inventory_parse(path, (const char *)data, size, &inv, &err);

	if (rc) {
		if (inv || rc != HF_EINVAL || strncmp(err.msg, path, sizeof(path) - 1) ||
		    err.msg[sizeof(path) - 1] != ':')
			abort();
	} else {
		if (!inv || (!inv->n) == !inv->discover)
			abort();
		check_nodes(inv);
		hf_inventory_free(inv);
	}
	from_json = calloc(1, sizeof(*from_json));
	if (!from_json)
		abort();
	rc = hf_inventory_from_json(from_json, "discover (fuzz)", (const char *)data, size, &err);
	if (rc ? rc != HF_EINVAL || from_json->n || strncmp(err.msg, "discover (fuzz): ", 17) :
		 !from_json->n)
		abort();
	check_nodes(from_json);
	hf_inventory_free(from_json);
	return 0;
}
