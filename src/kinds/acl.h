/* The spec of an 'acl' change, for the kind's own file and its tests. */
#ifndef HF_KINDS_ACL_H
#define HF_KINDS_ACL_H

struct hf_acl_spec {
	char *user;
	char *rules;      /* secrets replaced by their SHA-256 (">pw" -> "#hash", "<pw" -> "!hash") */
	int confirm;      /* the user may be hotfix's own */
};

#endif
