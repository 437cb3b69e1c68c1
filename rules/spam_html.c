/*
 * spam_html: SpamAssassin's HTMLEval built-ins that rule files use and
 * Moat records (filters/spam_view.c fills them from the HTML parts):
 * html_tag_exists(tag), any start or end tag of that name, and
 * html_test(name) for "html" (the message has an HTML part), "embeds"
 * (<object> or <embed>) and "form_action_mailto" (a form posting to a
 * mailto: address). Other html_test names, and html_range() and
 * html_eval(), which read the parser's counts and ratios, stay
 * unsupported: rules calling them are disabled and listed.
 */
#include "rules/spam_rules_private.h"

#include <string.h>

bool
spam_html_test_known(const char *name)
{
	return name != NULL &&
	       (strcmp(name, "html") == 0 || strcmp(name, "embeds") == 0 ||
		strcmp(name, "form_action_mailto") == 0);
}

bool
spam_eval_html_test(const struct spam_msg *msg, const char *name)
{
	if (name == NULL)
		return false;
	if (strcmp(name, "html") == 0)
		return msg->html_part_count > 0;
	if (strcmp(name, "embeds") == 0)
		return msg->html_embeds;
	if (strcmp(name, "form_action_mailto") == 0)
		return msg->html_form_mailto;
	return false;
}

bool
spam_eval_html_tag_exists(const struct spam_msg *msg, const char *tag)
{
	if (tag == NULL)
		return false;
	for (size_t i = 0; i < msg->html_tag_count; i++)
		if (strcmp(msg->html_tags[i], tag) == 0)
			return true;
	return false;
}
