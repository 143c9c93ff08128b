/* The spec of a 'config' change, for the kind's own file and its tests. */
#ifndef HF_KINDS_CONFIG_H
#define HF_KINDS_CONFIG_H

#include <stddef.h>

#include "core/manifest.h"

struct hf_config_spec {
	struct hf_param *params;   /* parameter name -> value, as Redis takes it */
	size_t nparams;
};

#endif
