/*
 * attachments_filter: the "attachments" filter: applies the attachment
 * policy of filters/attachments.c to the shared MIME parse.
 *
 * Every finding becomes a symbol (ATTACH_*, detail: the file name). A
 * blocking finding rejects the message with 554 5.7.1 naming the file, or
 * quarantines it (filter.attachments.action); macros have their own action
 * (filter.attachments.macro_action: reject, quarantine or symbol only).
 * A part that mail programs may read two ways (ATTACH_AMBIGUOUS_MIME)
 * blocks like a blocked file: what the recipient's program shows may not
 * be what the filters checked. Content the policy could not look into
 * (ATTACH_UNCHECKED: an archive nested too deep, MIME parts beyond the
 * parse's limits) is quarantined by default
 * (filter.attachments.unchecked_action): a blocked file could hide there.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "filters/attachments.h"
#include "filters/filter.h"
#include "filters/mime.h"
#include "lib/xalloc.h"

struct attachments_filter_settings {
	struct str_list extensions;
	struct str_list types;
	bool macros;
	bool archives;
	char *action;
	char *macro_action;
	char *unchecked_action;
	long long max_archive_depth;
	long long max_archive_entries;
	unsigned long long max_archive_member_size;
};

static int
attachments_filter_validate_action(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "reject") != 0 && strcmp(v, "quarantine") != 0) {
		*error_r = "must be reject or quarantine";
		return -1;
	}
	return 0;
}

static int
attachments_filter_validate_or_symbol(const void *field, const char **error_r)
{
	const char *v = *(char *const *)field;

	if (strcmp(v, "reject") != 0 && strcmp(v, "quarantine") != 0 &&
	    strcmp(v, "symbol") != 0) {
		*error_r = "must be reject, quarantine or symbol";
		return -1;
	}
	return 0;
}

#define A(field) offsetof(struct attachments_filter_settings, field)
static const struct setting_def attachments_filter_defs[] = {
    {"extensions", SETTING_LIST, attach_default_extensions, A(extensions), 0, 0,
     NULL,
     "blocked file name extensions (without dot), also inside archives and "
     "behind a document extension (invoice.pdf.exe)"},
    {"types", SETTING_LIST, attach_default_types, A(types), 0, 0, NULL,
     "blocked content types, declared or detected by libmagic"},
    {"macros", SETTING_BOOL, "yes", A(macros), 0, 0, NULL,
     "look for Office macros (OLE2 VBA, OOXML vbaProject.bin, Excel 4.0 "
     "macro sheets in .xls and OOXML, ODF Basic)"},
    {"archives", SETTING_BOOL, "yes", A(archives), 0, 0, NULL,
     "look inside archives (zip, 7z, rar, tar, cab, gzip...)"},
    {"action", SETTING_STRING, "reject", A(action), 0, 0,
     attachments_filter_validate_action,
     "on a blocked attachment: reject (554 5.7.1) or quarantine"},
    {"macro_action", SETTING_STRING, "reject", A(macro_action), 0, 0,
     attachments_filter_validate_or_symbol,
     "on a document with macros: reject, quarantine or symbol (ATTACH_MACRO "
     "only)"},
    {"unchecked_action", SETTING_STRING, "quarantine", A(unchecked_action), 0,
     0, attachments_filter_validate_or_symbol,
     "on content the policy could not look into (ATTACH_UNCHECKED: archives "
     "nested deeper than max_archive_depth, an archive past the size or "
     "entry bounds, MIME parts beyond filter.mime's depth or part limits): "
     "quarantine, reject or symbol"},
    {"max_archive_depth", SETTING_INT, "3", A(max_archive_depth), 1, 10, NULL,
     "archives inside archives opened; deeper adds ATTACH_UNCHECKED"},
    {"max_archive_entries", SETTING_INT, "1000", A(max_archive_entries), 1,
     100000, NULL,
     "members read per archive; beyond, ATTACH_ARCHIVE_LIMIT, and only the "
     "names of further members are checked (up to 100,000)"},
    {"max_archive_member_size", SETTING_SIZE, "25M", A(max_archive_member_size),
     1024, 0, NULL,
     "bytes read from one archive member for type, macro and nested "
     "archive checks"},
};
#undef A

static const double attachments_filter_scores[ATTACH_SYM_COUNT_] = {
    [ATTACH_SYM_BLOCKED_EXT] = 5.0,
    [ATTACH_SYM_DOUBLE_EXT] = 5.0,
    [ATTACH_SYM_BIDI_NAME] = 5.0,
    [ATTACH_SYM_ARCHIVE_EXT] = 5.0,
    [ATTACH_SYM_BLOCKED_TYPE] = 5.0,
    [ATTACH_SYM_DETECTED_TYPE] = 5.0,
    [ATTACH_SYM_MACRO] = 3.0,
    [ATTACH_SYM_ENCRYPTED] = 1.0,
    [ATTACH_SYM_ENCRYPTED_PASSWORD] = 3.0,
    [ATTACH_SYM_ARCHIVE_LIMIT] = 1.0,
    [ATTACH_SYM_AMBIGUOUS_MIME] = 5.0,
    [ATTACH_SYM_ACTIVE_SVG] = 5.0,
    [ATTACH_SYM_SMUGGLING] = 5.0,
    [ATTACH_SYM_HTML_SCRIPT] = 1.0,
    [ATTACH_SYM_HTML_PASSWORD] = 3.0,
    [ATTACH_SYM_UNCHECKED] = 3.0,
    [ATTACH_SYM_EXPLOIT_LINK] = 5.0,
    [ATTACH_SYM_REMOTE_TEMPLATE] = 3.0,
    [ATTACH_SYM_PDF_LAUNCH] = 5.0,
    [ATTACH_SYM_PDF_JAVASCRIPT] = 1.0,
    [ATTACH_SYM_EXPLOIT_OBJECT] = 5.0,
};

struct attachments_filter {
	const struct attachments_filter_settings *set;
	struct attach_policy *policy;
};

static int
attachments_filter_init(const void *settings, void **state_r, char **error_r)
{
	const struct attachments_filter_settings *set = settings;
	struct attach_config config;
	struct attachments_filter *f = xcalloc(1, sizeof(*f));

	memset(&config, 0, sizeof(config));
	config.extensions = &set->extensions;
	config.types = &set->types;
	config.check_macros = set->macros;
	config.check_archives = set->archives;
	config.max_archive_depth = (unsigned int)set->max_archive_depth;
	config.max_archive_entries = (unsigned int)set->max_archive_entries;
	config.max_archive_member_size = (size_t)set->max_archive_member_size;
	f->set = set;
	if (attach_policy_new(&config, &f->policy, error_r) < 0) {
		free(f);
		return -1;
	}
	mime_filter_register(NULL);
	*state_r = f;
	return 0;
}

static int
attachments_filter_run(void *state, struct filter_context *ctx,
		       enum filter_phase phase)
{
	struct attachments_filter *f = state;
	const struct mime_message *msg = mime_filter_get(ctx);
	struct attach_report r;
	const struct attach_finding *first = NULL, *macro = NULL,
				    *unchecked = NULL;
	size_t listed[ATTACH_SYM_COUNT_] = {0};
	bool named[ATTACH_SYM_COUNT_] = {false};
	char text[320];

	(void)phase;
	if (msg == NULL) {
		filter_set_error(ctx, "cannot read the spooled message");
		return -1;
	}
	attach_policy_check(f->policy, msg, &r);
	/* One symbol per kind, named after its first file: a score counts
	 * once per message, however many files (or nested archives) share
	 * the finding; kinds found only beyond the listed findings count
	 * too. */
	for (size_t i = 0; i < r.count; i++)
		listed[r.findings[i].symbol]++;
	for (size_t i = 0; i < r.count; i++) {
		const struct attach_finding *fd = &r.findings[i];

		if (!named[fd->symbol]) {
			char detail[sizeof(fd->file) + 32];

			named[fd->symbol] = true;
			if (listed[fd->symbol] > 1)
				snprintf(detail, sizeof(detail),
					 "%s (+%zu more)", fd->file,
					 listed[fd->symbol] - 1);
			else
				snprintf(detail, sizeof(detail), "%s",
					 fd->file);
			filter_add_symbol(ctx, attach_symbol_name(fd->symbol),
					  attachments_filter_scores[fd->symbol],
					  detail);
		}
		if (fd->symbol == ATTACH_SYM_UNCHECKED && unchecked == NULL)
			unchecked = fd;
		if (!fd->block)
			continue;
		if (fd->symbol == ATTACH_SYM_MACRO) {
			if (macro == NULL)
				macro = fd;
		} else if (first == NULL) {
			first = fd;
		}
	}
	for (int k = 0; k < ATTACH_SYM_COUNT_; k++)
		if (r.symbols[k] && listed[k] == 0)
			filter_add_symbol(
			    ctx, attach_symbol_name((enum attach_symbol)k),
			    attachments_filter_scores[k], NULL);
	if (first != NULL) {
		if (first->symbol == ATTACH_SYM_AMBIGUOUS_MIME)
			snprintf(text, sizeof(text),
				 "Ambiguous MIME structure not allowed: %s",
				 first->detail);
		else
			snprintf(text, sizeof(text),
				 "Attachment not allowed: %s (%s)",
				 first->file[0] != '\0' ? first->file
							: "(unnamed)",
				 first->detail);
		filter_set_verdict(ctx,
				   strcmp(f->set->action, "quarantine") == 0
				       ? POLICY_QUARANTINE
				       : POLICY_REJECT,
				   554, "5.7.1", text);
	} else if (macro != NULL &&
		   strcmp(f->set->macro_action, "symbol") != 0) {
		snprintf(text, sizeof(text),
			 "Office document with macros not allowed: %s",
			 macro->file);
		filter_set_verdict(ctx,
				   strcmp(f->set->macro_action, "quarantine") ==
					   0
				       ? POLICY_QUARANTINE
				       : POLICY_REJECT,
				   554, "5.7.1", text);
	} else if (r.symbols[ATTACH_SYM_UNCHECKED] &&
		   strcmp(f->set->unchecked_action, "symbol") != 0) {
		snprintf(text, sizeof(text),
			 "Message content could not be checked: %s%s%s",
			 unchecked != NULL ? unchecked->detail : "limits",
			 unchecked != NULL && unchecked->file[0] != '\0'
			     ? " in "
			     : "",
			 unchecked != NULL ? unchecked->file : "");
		filter_set_verdict(
		    ctx,
		    strcmp(f->set->unchecked_action, "quarantine") == 0
			? POLICY_QUARANTINE
			: POLICY_REJECT,
		    554, "5.7.1", text);
	}
	return 0;
}

static void
attachments_filter_fini(void *state)
{
	struct attachments_filter *f = state;

	if (f == NULL)
		return;
	attach_policy_free(&f->policy);
	free(f);
}

const struct filter filter_attachments = {
    .name = "attachments",
    .phases = FILTER_PHASE_DATA,
    .settings = attachments_filter_defs,
    .settings_count =
	sizeof(attachments_filter_defs) / sizeof(attachments_filter_defs[0]),
    .settings_size = sizeof(struct attachments_filter_settings),
    .init = attachments_filter_init,
    .run = attachments_filter_run,
    .fini = attachments_filter_fini,
};
