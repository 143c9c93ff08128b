/* The files of the web dashboard (src/serve/web/), embedded in the binary
 * at build time (cmake/embed.cmake): a name to its bytes and media type.
 * Serving them over HTTP is http.c's. */
#include <string.h>

#include "serve/serve.h"
#include "serve/web_files.h"

static const struct {
	const char *name;
	const char *bytes;
	const size_t *len;
	const char *ctype;
} files[] = {
	{ "index.html", hf_web_index_html, &hf_web_index_html_len, "text/html; charset=utf-8" },
	{ "login.html", hf_web_login_html, &hf_web_login_html_len, "text/html; charset=utf-8" },
	{ "app.js", hf_web_app_js, &hf_web_app_js_len, "text/javascript; charset=utf-8" },
	{ "login.js", hf_web_login_js, &hf_web_login_js_len, "text/javascript; charset=utf-8" },
	{ "style.css", hf_web_style_css, &hf_web_style_css_len, "text/css; charset=utf-8" },
	{ "favicon.svg", hf_web_favicon_svg, &hf_web_favicon_svg_len, "image/svg+xml" },
};

int hf_web_file(const char *name, const char **bytes, size_t *len, const char **ctype)
{
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (strcmp(name, files[i].name))
			continue;
		*bytes = files[i].bytes;
		*len = *files[i].len;
		*ctype = files[i].ctype;
		return 0;
	}
	return HF_EINVAL;
}
