/* A scratch directory for a cmocka group: 'dir' is made by the group's
 * setup (tmpdir_setup) under /tmp with the prefix TMPDIR_PREFIX, and
 * removed with everything in it by its teardown (tmpdir_teardown). */
#ifndef HF_TEST_TMPDIR_H
#define HF_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

#ifndef TMPDIR_PREFIX
#define TMPDIR_PREFIX "hf-test"
#endif

static char dir[64];

static int tmpdir_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/" TMPDIR_PREFIX "-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int tmpdir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

#endif
