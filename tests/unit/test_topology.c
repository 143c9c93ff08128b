/* Unit tests of the topology consensus (src/engine/redis/consensus.c): what
 * the nodes say about each other, compared, and the disagreements named;
 * and of hf_info_replicas(), the one parser of INFO's "slaveN:" lines. The
 * CLUSTER NODES texts are written by hand in Redis 7.0's format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/redis/internal.h"
#include "engine/redis/redis.h"
#include "util/buf.h"

/* Node ids: 40 hex digits, told apart by their first one. */
#define P1 "1111111111111111111111111111111111111111"
#define P2 "2222222222222222222222222222222222222222"
#define R1 "3333333333333333333333333333333333333333"
#define R2 "4444444444444444444444444444444444444444"

/* One line of CLUSTER NODES: id, port, flags, primary ("-"), slots. */
#define LINE(id, port, flags, primary, slots) \
	id " 127.0.0.1:" port "@1" port " " flags " " primary " 0 0 1 connected" slots "\n"

/* A healthy 2x1 cluster as node 'me' (one of P1, P2, R1, R2) sees it. */
static char *healthy(const char *me)
{
	struct hf_buf b = {0};

	hf_buf_printf(&b, LINE(P1, "30001", "%smaster", "-", " 0-8191"), !strcmp(me, P1) ? "myself," : "");
	hf_buf_printf(&b, LINE(P2, "30002", "%smaster", "-", " 8192-16383"), !strcmp(me, P2) ? "myself," : "");
	hf_buf_printf(&b, LINE(R1, "30003", "%sslave", P1, ""), !strcmp(me, R1) ? "myself," : "");
	hf_buf_printf(&b, LINE(R2, "30004", "%sslave", P2, ""), !strcmp(me, R2) ? "myself," : "");
	return hf_buf_detach(&b);
}

struct fixture {
	struct hf_view v[4];
	char *text[4];
};

/* Views of the healthy cluster from every node, ROLE agreeing. */
static void fixture_healthy(struct fixture *f)
{
	static const char *ids[4] = { P1, P2, R1, R2 };
	static const char *addrs[4] = { "127.0.0.1:30001", "127.0.0.1:30002", "127.0.0.1:30003",
					"127.0.0.1:30004" };
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < 4; i++) {
		f->text[i] = healthy(ids[i]);
		f->v[i].addr = addrs[i];
		f->v[i].myid = ids[i];
		f->v[i].nodes = f->text[i];
		f->v[i].role = i < 2 ? "master" : "slave";
	}
	f->v[2].role_primary = "127.0.0.1:30001";
	f->v[3].role_primary = "127.0.0.1:30002";
}

static void fixture_release(struct fixture *f)
{
	int i;

	for (i = 0; i < 4; i++)
		free(f->text[i]);
}

static void test_cluster_agree(void **state)
{
	struct fixture f;
	struct hf_buf why = {0};

	(void)state;
	fixture_healthy(&f);
	assert_int_equal(hf_topology_compare(f.v, 4, 1, 0, NULL, &why), 0);
	assert_null(why.s);
	/* A node that did not answer says nothing, and stops no one. */
	f.v[3].role = NULL;
	f.v[3].nodes = NULL;
	assert_int_equal(hf_topology_compare(f.v, 4, 1, 0, NULL, &why), 0);
	/* Without MYID, the 'myself' flag finds a node's own line. */
	f.v[2].myid = NULL;
	assert_int_equal(hf_topology_compare(f.v, 4, 1, 0, NULL, &why), 0);
	fixture_release(&f);
}

/* The bug of issue 10: just after 'redis-cli --cluster create', the seed
 * still lists the replicas as primaries without slots (9 shards of 1 for
 * a 3x2 cluster), while each replica knows whom it replicates. */
static void test_cluster_fresh(void **state)
{
	struct fixture f;
	struct hf_buf why = {0};
	char *seed_text = hf_xstrdup(LINE(P1, "30001", "myself,master", "-", " 0-8191")
				     LINE(P2, "30002", "master", "-", " 8192-16383")
				     LINE(R1, "30003", "master", "-", "")
				     LINE(R2, "30004", "master", "-", ""));

	(void)state;
	fixture_healthy(&f);
	free(f.text[0]);
	f.text[0] = seed_text;
	f.v[0].nodes = seed_text;
	assert_int_equal(hf_topology_compare(f.v, 4, 1, 0, NULL, &why), 2);
	assert_non_null(why.s);
	/* Each node named, with what each side says and who says it. */
	assert_non_null(strstr(why.s, "node '127.0.0.1:30003' (33333333):"));
	assert_non_null(strstr(why.s, "node '127.0.0.1:30004' (44444444):"));
	assert_non_null(strstr(why.s, "127.0.0.1:30001 (seed) says it is a primary without slots"));
	assert_non_null(strstr(why.s, "127.0.0.1:30002, 127.0.0.1:30003 (itself), 127.0.0.1:30004 "
				       "say it is a replica of 127.0.0.1:30001"));
	/* The larger group first, marked when it is more than half. */
	assert_true(strstr(why.s, "say it is a replica") < strstr(why.s, "(seed) says"));
	assert_non_null(strstr(why.s, "of 127.0.0.1:30001 (majority)"));
	hf_buf_release(&why);
	fixture_release(&f);
}

static void test_cluster_unlisted_and_slots(void **state)
{
	struct fixture f;
	struct hf_buf why = {0};
	char *p2_text = hf_xstrdup(LINE(P1, "30001", "master", "-", " 0-4095")
				   LINE(P2, "30002", "myself,master", "-", " 8192-16383")
				   LINE(R2, "30004", "slave", P2, ""));

	(void)state;
	fixture_healthy(&f);
	free(f.text[1]);
	f.text[1] = p2_text;
	f.v[1].nodes = p2_text;
	/* P2 does not list R1 and sees P1 with other slots. */
	assert_int_equal(hf_topology_compare(f.v, 4, 1, -1, NULL, &why), 2);
	assert_non_null(strstr(why.s, "127.0.0.1:30002 does not list it"));
	assert_non_null(strstr(why.s, "127.0.0.1:30002 says it is a primary of slots 0-4095"));
	hf_buf_release(&why);
	/* A replica whose primary the view does not list: "-" in CLUSTER NODES. */
	free(f.text[1]);
	f.text[1] = hf_xstrdup(LINE(P2, "30002", "myself,master", "-", " 8192-16383")
			       LINE(R2, "30004", "slave", "-", ""));
	f.v[1].nodes = f.text[1];
	assert_int_equal(hf_topology_compare(f.v, 4, 1, -1, NULL, &why), 3);
	assert_non_null(strstr(why.s, "127.0.0.1:30002 says it is a replica of a node it does not list"));
	assert_non_null(strstr(why.s, "say it is a primary of slots 0-8191"));
	assert_null(strstr(why.s, "(seed)"));
	hf_buf_release(&why);
	fixture_release(&f);
}

/* ROLE and the node's own CLUSTER NODES line, in the middle of a
 * failover: one more voice about the node, and only then. */
static void test_cluster_role_contradicts_own_line(void **state)
{
	struct fixture f;
	struct hf_buf why = {0};

	(void)state;
	fixture_healthy(&f);
	f.v[2].role = "master";
	f.v[2].role_primary = NULL;
	assert_int_equal(hf_topology_compare(f.v, 4, 1, -1, NULL, &why), 1);
	assert_non_null(strstr(why.s, "127.0.0.1:30003 (ROLE) says it is a primary without slots"));
	hf_buf_release(&why);

	/* A replica whose ROLE names a primary its cluster view does not know. */
	f.v[2].role = "slave";
	f.v[2].role_primary = "10.0.0.9:6379";
	assert_int_equal(hf_topology_compare(f.v, 4, 1, -1, NULL, &why), 1);
	assert_non_null(strstr(why.s, "(ROLE) says it is a replica of 10.0.0.9:6379"));
	hf_buf_release(&why);
	fixture_release(&f);
}

static void test_cluster_many_disagreements_bounded(void **state)
{
	struct hf_buf seed = {0}, other = {0}, why = {0};
	struct hf_view v[2];
	int i;

	(void)state;
	/* Twelve nodes the two views disagree about: eight are named. */
	for (i = 0; i < 12; i++) {
		char id[41];

		snprintf(id, sizeof(id), "%040d", i + 10);
		hf_buf_printf(&seed, "%s 127.0.0.1:%d@4%d %smaster - 0 0 1 connected\n", id, 31000 + i,
			      1000 + i, i ? "" : "myself,");
		hf_buf_printf(&other, "%s 127.0.0.1:%d@4%d %sslave %040d 0 0 1 connected\n", id,
			      31000 + i, 1000 + i, i == 1 ? "myself," : "", 99);
	}
	memset(v, 0, sizeof(v));
	v[0].addr = "127.0.0.1:31000";
	v[0].nodes = seed.s;
	v[0].role = "master";
	v[1].addr = "127.0.0.1:31001";
	v[1].nodes = other.s;
	v[1].role = "slave";
	v[1].role_primary = "127.0.0.1:1";
	assert_int_equal(hf_topology_compare(v, 2, 1, 0, NULL, &why), 12);
	assert_non_null(strstr(why.s, "and 4 more node(s)"));
	hf_buf_release(&why);
	hf_buf_release(&seed);
	hf_buf_release(&other);
}

/* ---- without cluster mode ------------------------------------------ */

static void test_plain_agree(void **state)
{
	static const char *reps[] = { "127.0.0.1:6380", "127.0.0.1:6381" };
	struct hf_view v[3];
	struct hf_buf why = {0};

	(void)state;
	memset(v, 0, sizeof(v));
	/* The primary reached as localhost is the one its replicas name. */
	v[0].addr = "localhost:6379";
	v[0].role = "master";
	v[0].role_replicas = reps;
	v[0].nrole_replicas = 2;
	v[1].addr = "127.0.0.1:6380";
	v[1].role = "slave";
	v[1].role_primary = "127.0.0.1:6379";
	v[2].addr = "127.0.0.1:6381";
	v[2].role = "slave";
	v[2].role_primary = "127.0.0.1:6379";
	assert_int_equal(hf_topology_compare(v, 3, 0, 0, NULL, &why), 0);

	/* A replica that left (REPLICAOF NO ONE) while its primary lists it. */
	v[2].role = "master";
	v[2].role_primary = NULL;
	assert_int_equal(hf_topology_compare(v, 3, 0, 0, NULL, &why), 1);
	assert_non_null(strstr(why.s, "node '127.0.0.1:6381':"));
	assert_non_null(strstr(why.s, "localhost:6379 (seed) says it is a replica of localhost:6379"));
	assert_non_null(strstr(why.s, "127.0.0.1:6381 (itself) says it is a primary"));
	hf_buf_release(&why);
}

/* A replica names its primary as its 'replicaof' spells it, a host name
 * here, while the primary lists it by the address it connects from: the
 * same primary, and no disagreement (the review found plan refusing such
 * a healthy pair for ever). */
static void test_plain_primary_by_name(void **state)
{
	static const char *reps[] = { "127.0.0.1:23452" };
	struct hf_view v[2];
	struct hf_buf why = {0};

	(void)state;
	memset(v, 0, sizeof(v));
	v[0].addr = "127.0.0.1:23451";
	v[0].role = "master";
	v[0].role_replicas = reps;
	v[0].nrole_replicas = 1;
	v[1].addr = "127.0.0.1:23452";
	v[1].role = "slave";
	v[1].role_primary = "db-primary.internal:23451";
	assert_int_equal(hf_topology_compare(v, 2, 0, 0, NULL, &why), 0);
	hf_buf_release(&why);
}

/* The seed replicates a primary that does not list it (its sync fails),
 * and the primary's INFO replication, the topology, does not either. */
static void test_plain_seed_unlisted(void **state)
{
	static const char *reps[] = { "127.0.0.1:6380" };
	struct hf_cluster expect = {0};
	struct hf_node nodes[2];
	struct hf_view v[3];
	struct hf_buf why = {0};

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	nodes[0].id = "127.0.0.1:6379";
	nodes[0].host = "127.0.0.1";
	nodes[0].port = 6379;
	nodes[0].role = HF_ROLE_PRIMARY;
	nodes[1].id = "127.0.0.1:6380";
	nodes[1].host = "127.0.0.1";
	nodes[1].port = 6380;
	nodes[1].role = HF_ROLE_REPLICA;
	nodes[1].primary_id = "127.0.0.1:6379";
	expect.nodes = nodes;
	expect.nnodes = 2;
	memset(v, 0, sizeof(v));
	v[0].addr = "127.0.0.1:6379";
	v[0].role = "master";
	v[0].role_replicas = reps;
	v[0].nrole_replicas = 1;
	v[1].addr = "127.0.0.1:6380";
	v[1].role = "slave";
	v[1].role_primary = "127.0.0.1:6379";
	v[2].addr = "127.0.0.1:6381";
	v[2].role = "slave";
	v[2].role_primary = "127.0.0.1:6379";
	assert_int_equal(hf_topology_compare(v, 3, 0, 2, &expect, &why), 1);
	assert_non_null(strstr(why.s, "127.0.0.1:6381 (seed) (itself) says it is a replica of "
				       "127.0.0.1:6379"));
	assert_non_null(strstr(why.s, "127.0.0.1:6379, the seed's INFO replication do not list it"));
	hf_buf_release(&why);

	/* Agreement with the topology read from the seed, once it is listed. */
	assert_int_equal(hf_topology_compare(v, 2, 0, 1, &expect, &why), 0);
	/* A primary demoted since the topology was read: the topology and the
	 * replica still call it a primary. */
	v[0].role = "slave";
	v[0].role_primary = "127.0.0.1:6390";
	v[0].nrole_replicas = 0;
	assert_true(hf_topology_compare(v, 2, 0, 1, &expect, &why) >= 1);
	assert_non_null(strstr(why.s, "127.0.0.1:6379 (itself) says it is a replica of 127.0.0.1:6390"));
	hf_buf_release(&why);
}

/* ---- shards between two looks -------------------------------------- */

static void set_node(struct hf_node *n, const char *id, int port, int shard)
{
	memset(n, 0, sizeof(*n));
	n->id = (char *)id;
	n->host = "127.0.0.1";
	n->port = port;
	n->shard = shard;
}

static void test_shards_moved(void **state)
{
	struct hf_node a[4], b[4];
	struct hf_cluster was = { .nodes = a, .nnodes = 4 }, now = { .nodes = b, .nnodes = 4 };
	struct hf_buf why = {0};

	(void)state;
	set_node(&a[0], P1, 30001, 0);
	set_node(&a[1], R1, 30003, 0);
	set_node(&a[2], P2, 30002, 1);
	set_node(&a[3], R2, 30004, 1);
	/* A failover swaps roles inside a shard: the same shards. */
	set_node(&b[0], R1, 30003, 1);
	set_node(&b[1], P1, 30001, 1);
	set_node(&b[2], P2, 30002, 0);
	set_node(&b[3], R2, 30004, 0);
	assert_int_equal(hf_topology_compare_shards(&was, &now, &why), 0);
	assert_null(why.s);
	/* A replica migrated to the other primary: apart from P1, with P2 and R2. */
	b[0].shard = 0;
	assert_int_equal(hf_topology_compare_shards(&was, &now, &why), 3);
	assert_non_null(strstr(why.s, "'127.0.0.1:30001' and '127.0.0.1:30003' were in one shard, "
				       "now in two"));
	assert_non_null(strstr(why.s, "'127.0.0.1:30003' and '127.0.0.1:30002' were in two shards, "
				       "now in one"));
	hf_buf_release(&why);
	/* A node the new look does not list is no pair. */
	now.nnodes = 3;
	b[0].shard = 1;
	assert_int_equal(hf_topology_compare_shards(&was, &now, &why), 0);
}

/* CLUSTER NODES of nodes on IPv6 addresses: "::1:30001@40001", without
 * brackets, as Redis writes them. */
static void test_cluster_nodes_ipv6(void **state)
{
	const char *nodes =
		P1 " ::1:30001@40001 myself,master - 0 0 1 connected 0-16383\n"
		R1 " 2001:db8::7:30002@40002 slave " P1 " 0 0 1 connected\n";
	struct hf_uri uri = { .host = "::1", .port = 30001 };
	struct hf_cluster *c = NULL;
	struct hf_err err = {0};

	(void)state;
	assert_int_equal(hf_topology_from_nodes(&uri, 1000, nodes, NULL, &c, &err), 0);
	assert_int_equal(c->nnodes, 2);
	assert_string_equal(c->nodes[0].host, "::1");
	assert_int_equal(c->nodes[0].port, 30001);
	assert_string_equal(c->nodes[1].host, "2001:db8::7");
	assert_int_equal(c->nodes[1].port, 30002);
	assert_int_equal(c->nodes[1].role, HF_ROLE_REPLICA);
	hf_cluster_free(c);
}

/* ---- INFO replication's "slaveN:" lines ---------------------------- */

static void test_info_replicas(void **state)
{
	const char *info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n"
			   "slave0:ip=127.0.0.1,port=30004,state=online,offset=1234,lag=0\r\n"
			   "slave1:ip=::1,port=30005,state=wait_bgsave,offset=0,lag=7\r\n"
			   "slave2:port=30006,state=online,offset=1,lag=0\r\n"
			   "slave3:ip=10.0.0.2,port=30007,state=online,offset=99,lag=1\r\n"
			   "slave5:ip=10.0.0.3,port=30009,state=online,offset=99,lag=1\r\n"
			   "master_repl_offset:1234\r\n";
	struct hf_info_replica r[2];

	(void)state;
	/* slave2 has no ip: skipped; slave4 is missing: the list ends there. */
	assert_int_equal(hf_info_replicas(info, NULL, 0), 3);
	assert_int_equal(hf_info_replicas(info, r, 2), 3);
	assert_string_equal(r[0].ip, "127.0.0.1");
	assert_int_equal(r[0].port, 30004);
	assert_string_equal(r[0].state, "online");
	assert_int_equal(r[0].offset, 1234);
	assert_int_equal(r[0].lag_s, 0);
	assert_string_equal(r[1].ip, "::1");
	assert_int_equal(r[1].port, 30005);
	assert_string_equal(r[1].state, "wait_bgsave");
	assert_int_equal(r[1].lag_s, 7);
	assert_int_equal(hf_info_replicas("role:master\r\nconnected_slaves:0\r\n", r, 2), 0);
}

/* A cluster of 'np' primaries with a replica each, seen by every node;
 * node 'odd' (-1: none) sees node 'np' (the first replica) as a primary
 * without slots; node 'rev' (-1: none) lists its lines in reverse order. */
static void big_views(int np, int odd, int rev, struct hf_view *v, char **texts, char **ids,
		      char **addrs, char **rprim)
{
	int n = 2 * np, i, k, j;

	for (i = 0; i < n; i++) {
		ids[i] = hf_xasprintf("%040x", i + 1);
		addrs[i] = hf_xasprintf("127.0.0.1:%d", 40000 + i);
		rprim[i] = i >= np ? hf_xasprintf("127.0.0.1:%d", 40000 + i - np) : NULL;
	}
	for (k = 0; k < n; k++) {
		struct hf_buf b = {0};

		for (j = 0; j < n; j++) {
			const char *me = j == k ? "myself," : "";
			char slots[32] = "";

			i = k == rev ? n - 1 - j : j;
			if (i < np)
				snprintf(slots, sizeof(slots), " %d-%d", i * 16384 / np,
					 (i + 1) * 16384 / np - 1);
			if (i < np || (k == odd && i == np))
				hf_buf_printf(&b, "%s %s@5%d %smaster - 0 0 1 connected%s\n", ids[i],
					      addrs[i], i, me, slots);
			else
				hf_buf_printf(&b, "%s %s@5%d %sslave %s 0 0 1 connected\n", ids[i], addrs[i],
					      i, me, ids[i - np]);
		}
		texts[k] = hf_buf_detach(&b);
		v[k].addr = addrs[k];
		v[k].myid = ids[k];
		v[k].nodes = texts[k];
		v[k].role = k < np ? "master" : "slave";
		v[k].role_primary = rprim[k];
	}
}

static void big_release(int n, char **texts, char **ids, char **addrs, char **rprim)
{
	int i;

	for (i = 0; i < n; i++) {
		free(texts[i]);
		free(ids[i]);
		free(addrs[i]);
		free(rprim[i]);
	}
}

/* 300 nodes: agreement is found without comparing 90,000 claims, whatever
 * the order of each view's lines; one view that differs about one node is
 * still found and named. */
static void test_cluster_300_nodes(void **state)
{
	enum { NP = 150, N = 2 * NP };
	static struct hf_view v[N];
	static char *texts[N], *ids[N], *addrs[N], *rprim[N];
	struct hf_buf why = {0};

	(void)state;
	memset(v, 0, sizeof(v));
	big_views(NP, -1, 7, v, texts, ids, addrs, rprim);
	assert_int_equal(hf_topology_compare(v, N, 1, 0, NULL, &why), 0);
	assert_null(why.s);
	big_release(N, texts, ids, addrs, rprim);

	memset(v, 0, sizeof(v));
	big_views(NP, 42, 7, v, texts, ids, addrs, rprim);
	assert_int_equal(hf_topology_compare(v, N, 1, 0, NULL, &why), 1);
	assert_non_null(strstr(why.s, "127.0.0.1:40042 says it is a primary without slots"));
	hf_buf_release(&why);
	big_release(N, texts, ids, addrs, rprim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_agree),
		cmocka_unit_test(test_cluster_fresh),
		cmocka_unit_test(test_cluster_unlisted_and_slots),
		cmocka_unit_test(test_cluster_role_contradicts_own_line),
		cmocka_unit_test(test_cluster_many_disagreements_bounded),
		cmocka_unit_test(test_plain_agree),
		cmocka_unit_test(test_plain_seed_unlisted),
		cmocka_unit_test(test_plain_primary_by_name),
		cmocka_unit_test(test_shards_moved),
		cmocka_unit_test(test_info_replicas),
		cmocka_unit_test(test_cluster_nodes_ipv6),
		cmocka_unit_test(test_cluster_300_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
