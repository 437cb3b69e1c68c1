/*
 * spam_view: builds the rule engine's message view (struct spam_msg of
 * rules/spam_rules.h) from the shared MIME parse (filters/mime.h), for the
 * spam filter and for `moatctl spam train`. The view points into the parsed
 * message and into buffers it owns; it lives until spam_view_free().
 */
#ifndef MOAT_SPAM_VIEW_H
#define MOAT_SPAM_VIEW_H

#include <stddef.h>

#include "filters/mime.h"
#include "filters/psl.h"
#include "lib/buf.h"
#include "rules/bayes.h"
#include "rules/spam_rules.h"

struct spam_view {
	struct spam_msg msg;
	struct spam_header *headers;
	struct buf body;    /* Subject line + rendered text */
	struct buf rawbody; /* decoded text parts, HTML kept */
	/* Content-* fields of the top-level header block, which the MIME
	 * parse files under the body part rather than the message: their
	 * names and unfolded values, NUL-separated. */
	struct buf content_fields;
	struct spam_html_part *html_parts;
	struct spam_shown_link *shown_links;
	char **html_tags; /* SPAM_HTML_TAGS_MAX, html_tag_count in use */
	size_t html_tag_count;
};

/* The click trackers filter.spam.link_trackers names by default: mailing
 * services whose tracked links never show where they land, and the link
 * rewriters of mail security gateways. */
#define SPAM_LINK_TRACKERS_DEFAULT                                             \
	"list-manage.com mcsv.net mailchimp.com sendgrid.net mandrillapp.com " \
	"rs6.net constantcontact.com exacttarget.com exct.net "                \
	"hubspotlinks.com hubspotemail.net hs-sites.com awstrack.me "          \
	"mailgun.org sparkpostmail.com mktoweb.com mkto-ab.com "               \
	"createsend.com "                                                      \
	"createsend1.com cmail19.com cmail20.com klclick.com klclick1.com "    \
	"klaviyomail.com sendibt2.com sendibt3.com mlsend.com emltrk.com "     \
	"ck.page convertkit-mail2.com substack.com beehiiv.com "               \
	"urldefense.com urldefense.proofpoint.com "                            \
	"safelinks.protection.outlook.com mimecast.com mimecastprotect.com "   \
	"linkprotect.cudasvc.com"

/*
 * Fills view from mime (which must outlive the view). full/full_len are the
 * message bytes as received (may be NULL), for `full` rules and GTUBE.
 * Text areas are capped at max_text bytes each (0 = no cap).
 */
void spam_view_init(struct spam_view *view, const struct mime_message *mime,
		    const char *full, size_t full_len, size_t max_text);
void spam_view_free(struct spam_view *view);
/* Organisations (check_fromname_spoof) by registrable domain from psl
 * (which must outlive the view); without it, by domain and subdomain. */
void spam_view_set_psl(struct spam_view *view, const struct psl *psl);

/* Relays whose Received fields are believed besides the internal ranges
 * (filter.spam.trusted_relays; items must outlive the view), for the
 * sender key of the Bayes sender token and reputation. */
void spam_view_set_trusted(struct spam_view *view, char *const *items,
			   size_t count);

/* Click trackers whose links may show another host than theirs
 * (filter.spam.link_trackers; items must outlive the view), for
 * check_uri_text_mismatch(). */
void spam_view_set_link_trackers(struct spam_view *view, char *const *items,
				 size_t count);
/* Looks up how often Bayes learned the sender key (spam_view_set_trusted()
 * first) as spam and ham, for check_sender_learned_ham(): 0, or -1 with
 * *error_r allocated. A message without a sender key stays unlooked-up. */
int spam_view_sender_history(struct spam_view *view, struct bayes_db *db,
			     const struct bayes_params *params, char **error_r);

/* A 64-bit key naming a message for Bayes learning: its Message-Id when
 * present, else a hash of its text. */
unsigned long long spam_view_key(const struct spam_view *view);

#endif
