/* The exec engine's inventory (src/engine/exec/inventory.c): static nodes
 * from YAML with FILE:LINE:COL errors, a discovery command's JSON with
 * errors naming the node and field, and the command run for real. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/exec/inventory.h"

static char dir[] = "/tmp/hf-test-inventory-XXXXXX";

static const char head[] = "apiVersion: hotfix/v1\nkind: Inventory\n";

static int parse(const char *body, struct hf_inventory **inv, struct hf_err *err)
{
	char text[4096];

	snprintf(text, sizeof(text), "%s%s", head, body);
	return hf_inventory_parse("inv.yaml", text, strlen(text), inv, err);
}

/* 'body' (after apiVersion and kind) is refused with an error that
 * starts with 'where' (FILE:LINE:COL) and holds 'what'. */
static void refused(const char *body, const char *where, const char *what)
{
	struct hf_inventory *inv = NULL;
	struct hf_err err = {0};

	assert_int_equal(parse(body, &inv, &err), HF_EINVAL);
	assert_null(inv);
	if (strncmp(err.msg, where, strlen(where)) || !strstr(err.msg, what))
		fail_msg("for:\n%s\ngot: %s\nwanted: %s ... %s", body, err.msg, where, what);
}

static void test_static(void **state)
{
	struct hf_inventory *inv = NULL;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(parse("nodes:\n"
			       "  - {id: m1, host: 127.0.0.1, port: 2379, group: main, role: replica,"
			       " labels: {name: m1, dc: east}}\n"
			       "  - id: m2\n    host: ::1\n    port: 2380\n    group: main\n"
			       "    role: primary\n",
			       &inv, &err), 0);
	assert_int_equal(inv->n, 2);
	assert_null(inv->discover);
	assert_string_equal(inv->nodes[0].id, "m1");
	assert_string_equal(inv->nodes[0].host, "127.0.0.1");
	assert_int_equal(inv->nodes[0].port, 2379);
	assert_false(inv->nodes[0].primary);
	assert_string_equal(inv->nodes[0].group, "main");
	assert_string_equal(hf_inv_label(&inv->nodes[0], "dc"), "east");
	assert_null(hf_inv_label(&inv->nodes[0], "rack"));
	assert_true(inv->nodes[1].primary);
	assert_string_equal(inv->nodes[1].host, "::1");
	assert_int_equal(inv->nodes[1].nlabels, 0);
	assert_int_equal(hf_inventory_refresh(inv, 1000, &err), 0);   /* static: as they are */
	assert_int_equal(inv->n, 2);
	hf_inventory_free(inv);
}

static void test_errors(void **state)
{
	(void)state;
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: leader}\n", "inv.yaml:4:",
		"invalid role 'leader' (expected primary or replica)");
	refused("nodes:\n  - {id: a, host: h, port: 0, group: g, role: primary}\n", "inv.yaml:4:",
		"'port' must be a port (1-65535), not '0'");
	refused("nodes:\n  - {id: a, host: h, port: 65536, group: g, role: primary}\n",
		"inv.yaml:4:", "not '65536'");
	refused("nodes:\n  - {id: a, host: h, port: x, group: g, role: primary}\n", "inv.yaml:4:",
		"not 'x'");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary, zone: z}\n",
		"inv.yaml:4:", "zone");
	refused("nodes:\n  - {id: a, host: h, port: 1, role: primary}\n", "inv.yaml:4:", "group");
	refused("nodes:\n  - {id: 'a b', host: h, port: 1, group: g, role: primary}\n",
		"inv.yaml:4:", "'id' may hold only");
	refused("nodes:\n  - {id: a, host: 'h;rm', port: 1, group: g, role: primary}\n",
		"inv.yaml:4:", "'host' must be a host name");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary}\n"
		"  - {id: a, host: h2, port: 1, group: g, role: primary}\n",
		"inv.yaml:5:", "node 2 has the id 'a' of node 1");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary}\n"
		"  - {id: b, host: h, port: 1, group: g, role: primary}\n",
		"inv.yaml:5:", "node 2 has the address h:1 of node 1");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary, labels: [x]}\n",
		"inv.yaml:4:", "'labels' must be a mapping");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary,"
		" labels: {'a b': x}}\n", "inv.yaml:4:", "may hold only");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary,"
		" labels: {k: \"x\\ty\"}}\n", "inv.yaml:4:", "label 'k' must not hold control");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary,"
		" labels: {k: x, k: y}}\n", "inv.yaml:", "k");
	refused("nodes:\n  - {id: a, host: h, port: 1, group: g, role: primary}\n"
		"discover: ./d.sh\n", "inv.yaml:", "either 'nodes' or 'discover', not both");
	refused("", "inv.yaml:1:1:", "either 'nodes' or 'discover'");
	refused("nodes: []\n", "inv.yaml:3:", "must not be empty");
	refused("nodes:\n  - just-a-name\n", "inv.yaml:4:", "node 1 must be a mapping");
	refused("discover: ''\n", "inv.yaml:3:", "non-empty");

	struct hf_inventory *inv = NULL;
	struct hf_err err = {0};
	const char wrong_kind[] = "apiVersion: hotfix/v1\nkind: Hotfix\nnodes: []\n";

	assert_int_equal(hf_inventory_parse("k.yaml", wrong_kind, strlen(wrong_kind), &inv, &err),
			 HF_EINVAL);
	assert_non_null(strstr(err.msg, "k.yaml:2:7: unsupported kind 'Hotfix'"));
	assert_int_equal(hf_inventory_load("/nonexistent/inv.yaml", &inv, &err), HF_EINVAL);
	assert_non_null(strstr(err.msg, "cannot read inventory '/nonexistent/inv.yaml'"));
}

/* A discovery's output: 'json' refused with a message holding 'what'. */
static void json_refused(const char *json, const char *what)
{
	struct hf_inventory *inv = calloc(1, sizeof(*inv));
	struct hf_err err = {0};

	assert_int_equal(hf_inventory_from_json(inv, "discover (d)", json, strlen(json), &err),
			 HF_EINVAL);
	assert_int_equal(inv->n, 0);
	if (!strstr(err.msg, what))
		fail_msg("for %s\ngot: %s\nwanted: %s", json, err.msg, what);
	hf_inventory_free(inv);
}

static void test_json(void **state)
{
	const char ok[] = "{\"nodes\": [{\"id\": \"m1\", \"host\": \"127.0.0.1\", \"port\": 2379, "
			  "\"group\": \"main\", \"role\": \"primary\", \"labels\": {\"name\": \"m1\"}},"
			  " {\"id\": \"m2\", \"host\": \"127.0.0.1\", \"port\": 2380, \"group\": "
			  "\"main\", \"role\": \"replica\"}]}";
	struct hf_inventory *inv = calloc(1, sizeof(*inv));
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_inventory_from_json(inv, "discover (d)", ok, strlen(ok), &err), 0);
	assert_int_equal(inv->n, 2);
	assert_true(inv->nodes[0].primary);
	assert_string_equal(hf_inv_label(&inv->nodes[0], "name"), "m1");
	assert_int_equal(inv->nodes[1].port, 2380);
	/* Parsed again: the old nodes go (no leak). */
	assert_int_equal(hf_inventory_from_json(inv, "discover (d)", ok, strlen(ok), &err), 0);
	assert_int_equal(inv->n, 2);
	hf_inventory_free(inv);

	json_refused("not json", "discover (d): its output is not JSON: line 1, column 3");
	json_refused("[]", "its output must be {\"nodes\": [...]}");
	json_refused("{\"nodes\": [], \"x\": 1}", "its output must be {\"nodes\": [...]}");
	json_refused("{\"nodes\": []}", "'nodes' is empty");
	json_refused("{\"nodes\": [{\"id\": \"a\", \"host\": \"h\", \"port\": 70000, \"group\": "
		     "\"g\", \"role\": \"primary\"}]}", "nodes[0].port must be a port (1-65535)");
	json_refused("{\"nodes\": [{\"id\": \"a\", \"host\": \"h\", \"port\": 1, \"group\": "
		     "\"g\", \"role\": \"leader\"}]}", "nodes[0].role must be \"primary\" or");
	json_refused("{\"nodes\": [{\"id\": \"a\", \"host\": \"h\", \"port\": 1, \"group\": "
		     "\"g\", \"role\": \"primary\", \"rack\": 1}]}", "nodes[0].rack is not a field");
	json_refused("{\"nodes\": [{\"host\": \"h\", \"port\": 1, \"group\": \"g\", \"role\": "
		     "\"primary\"}]}", "nodes[0].id is missing");
	json_refused("{\"nodes\": [{\"id\": \"a\", \"host\": \"h\", \"port\": 1, \"group\": "
		     "\"g\", \"role\": \"primary\"}, {\"id\": \"a\", \"host\": \"i\", \"port\": 1, "
		     "\"group\": \"g\", \"role\": \"primary\"}]}", "nodes[1] has the id of nodes[0]");
	json_refused("{\"nodes\": [{\"id\": \"a\", \"host\": \"h\", \"port\": 1, \"group\": "
		     "\"g\", \"role\": \"primary\", \"labels\": {\"k\": 5}}]}",
		     "nodes[0].k must be a string");
	json_refused("{\"nodes\": [1]}", "nodes[0] must be an object");
}

static void write_exec(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_discover(void **state)
{
	struct hf_inventory *inv = NULL;
	struct hf_err err = {0};
	char path[512];

	(void)state;
	/* Run in the inventory's directory: the script is found by './'. */
	write_exec("d.sh", "#!/bin/sh\necho '{\"nodes\": [{\"id\": \"x\", \"host\": \"127.0.0.1\", "
		   "\"port\": 1, \"group\": \"g\", \"role\": \"primary\"}]}'\n");
	write_exec("bad.sh", "#!/bin/sh\necho 'no etcd here' >&2\nexit 3\n");
	write_exec("inv.yaml", "apiVersion: hotfix/v1\nkind: Inventory\ndiscover: ./d.sh\n");
	write_exec("bad.yaml", "apiVersion: hotfix/v1\nkind: Inventory\ndiscover: ./bad.sh\n");
	/* A discovery that never ends by itself: only its deadline stops it. */
	write_exec("slow.yaml", "apiVersion: hotfix/v1\nkind: Inventory\ndiscover: tail -f /dev/null\n");
	snprintf(path, sizeof(path), "%s/inv.yaml", dir);
	assert_int_equal(hf_inventory_load(path, &inv, &err), 0);
	assert_string_equal(inv->discover, "./d.sh");
	assert_int_equal(inv->n, 0);
	assert_int_equal(hf_inventory_refresh(inv, 5000, &err), 0);
	assert_int_equal(inv->n, 1);
	assert_string_equal(inv->nodes[0].id, "x");
	hf_inventory_free(inv);

	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	assert_int_equal(hf_inventory_load(path, &inv, &err), 0);
	assert_int_equal(hf_inventory_refresh(inv, 5000, &err), HF_ERR);
	assert_string_equal(err.msg, "discover (./bad.sh): exit status 3: no etcd here");
	hf_inventory_free(inv);

	snprintf(path, sizeof(path), "%s/slow.yaml", dir);
	assert_int_equal(hf_inventory_load(path, &inv, &err), 0);
	assert_int_equal(hf_inventory_refresh(inv, 200, &err), HF_ERR);
	assert_non_null(strstr(err.msg, "discover (tail -f /dev/null): killed after 200 ms"));
	hf_inventory_free(inv);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_discover),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
