/*
 * mime_filter: the shared MIME parse inside the filter chain, and the
 * "mime" filter that reports its findings.
 *
 * The chain (filters/filter_context.c) keeps one struct filter_mime per
 * message; here it wraps the struct mime_message parsed from the spooled
 * message (filter_body()) on first use. The "mime" filter owns the parse
 * limits (filter.mime.*) and turns each MIME_* symbol of the parse into a
 * scored symbol of the chain, so a limit hit or a malformation is never
 * silent. It gives no verdict: scoring and policy decide.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "filters/filter.h"
#include "filters/mime.h"
#include "lib/xalloc.h"

struct filter_mime {
	struct mime_message *msg;
};

static struct mime_limits mime_filter_limits;
static bool mime_filter_limits_set;
static pthread_mutex_t mime_filter_lock = PTHREAD_MUTEX_INITIALIZER;

static struct filter_mime *
mime_filter_parse(struct filter_context *ctx)
{
	const struct filter_body *body = filter_body(ctx);
	struct filter_mime *fm;
	struct mime_message *msg;
	const char *error = NULL;

	if (body == NULL)
		return NULL;
	if (mime_parse_fd(body->fd, body->offset, body->len,
			  &mime_filter_limits, &msg, &error) < 0)
		return NULL;
	fm = xmalloc(sizeof(*fm));
	fm->msg = msg;
	return fm;
}

static void
mime_filter_free(struct filter_mime *fm)
{
	if (fm == NULL)
		return;
	mime_message_free(&fm->msg);
	free(fm);
}

static const struct filter_mime_ops mime_filter_ops = {
    .parse = mime_filter_parse,
    .free = mime_filter_free,
};

void
mime_filter_register(const struct mime_limits *limits)
{
	mime_init();
	pthread_mutex_lock(&mime_filter_lock);
	if (limits != NULL) {
		mime_filter_limits = *limits;
		mime_filter_limits_set = true;
	} else if (!mime_filter_limits_set) {
		mime_limits_default(&mime_filter_limits);
	}
	filter_mime_register(&mime_filter_ops);
	pthread_mutex_unlock(&mime_filter_lock);
}

const struct mime_message *
mime_filter_get(struct filter_context *ctx)
{
	struct filter_mime *fm = filter_mime(ctx);

	return fm != NULL ? fm->msg : NULL;
}

/* --- the "mime" filter -------------------------------------------------- */

struct mime_filter_settings {
	long long max_depth;
	long long max_parts;
	unsigned long long max_decoded_size;
	unsigned long long max_text_size;
	long long max_urls;
	long long max_headers;
};

#define M(field) offsetof(struct mime_filter_settings, field)
static const struct setting_def mime_filter_defs[] = {
    {"max_depth", SETTING_INT, "20", M(max_depth), 1, 100, NULL,
     "deepest multipart/message nesting parsed; deeper parts are skipped "
     "and MIME_TOO_DEEP is added"},
    {"max_parts", SETTING_INT, "1000", M(max_parts), 1, 100000, NULL,
     "parts recorded per message; beyond, MIME_TOO_MANY_PARTS"},
    {"max_decoded_size", SETTING_SIZE, "64M", M(max_decoded_size), 1024, 0,
     NULL,
     "transfer-decoded bytes kept per message (attachments included); "
     "beyond, parts are truncated and MIME_TOO_LARGE is added"},
    {"max_text_size", SETTING_SIZE, "4M", M(max_text_size), 1024, 0, NULL,
     "UTF-8 text kept per message for the rules; beyond, MIME_TOO_LARGE"},
    {"max_urls", SETTING_INT, "2000", M(max_urls), 0, 1000000, NULL,
     "distinct URLs recorded; beyond, MIME_TOO_MANY_URLS"},
    {"max_headers", SETTING_INT, "1000", M(max_headers), 1, 100000, NULL,
     "header fields recorded per part"},
};
#undef M

/* The scores of the parse's findings. */
static const double mime_filter_scores[MIME_SYM_COUNT_] = {
    [MIME_SYM_TOO_DEEP] = 3.0,	       [MIME_SYM_TOO_MANY_PARTS] = 3.0,
    [MIME_SYM_TOO_LARGE] = 0.1,	       [MIME_SYM_TOO_MANY_URLS] = 1.0,
    [MIME_SYM_PARSE_ERROR] = 3.0,      [MIME_SYM_MALFORMED] = 1.0,
    [MIME_SYM_BAD_HEADER] = 0.5,       [MIME_SYM_BAD_CHARSET] = 0.5,
    [MIME_SYM_NESTING_OVERFLOW] = 5.0, [MIME_SYM_AMBIGUOUS] = 3.0,
};

static int
mime_filter_init(const void *settings, void **state_r, char **error_r)
{
	const struct mime_filter_settings *set = settings;
	struct mime_limits limits;

	(void)error_r;
	limits.max_depth = (unsigned int)set->max_depth;
	limits.max_parts = (unsigned int)set->max_parts;
	limits.max_decoded_size = (size_t)set->max_decoded_size;
	limits.max_text_size = (size_t)set->max_text_size;
	limits.max_urls = (unsigned int)set->max_urls;
	limits.max_headers = (unsigned int)set->max_headers;
	mime_filter_register(&limits);
	*state_r = NULL;
	return 0;
}

static int
mime_filter_run(void *state, struct filter_context *ctx,
		enum filter_phase phase)
{
	const struct mime_message *msg = mime_filter_get(ctx);

	(void)state;
	(void)phase;
	if (msg == NULL) {
		filter_set_error(ctx, "cannot read the spooled message");
		return -1;
	}
	for (int s = 0; s < MIME_SYM_COUNT_; s++)
		if (msg->symbols[s])
			filter_add_symbol(ctx, mime_symbol_name(s),
					  mime_filter_scores[s], NULL);
	return 0;
}

const struct filter filter_mime_parse = {
    .name = "mime",
    .phases = FILTER_PHASE_DATA,
    .settings = mime_filter_defs,
    .settings_count = sizeof(mime_filter_defs) / sizeof(mime_filter_defs[0]),
    .settings_size = sizeof(struct mime_filter_settings),
    .init = mime_filter_init,
    .run = mime_filter_run,
};
