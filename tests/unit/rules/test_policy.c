/*
 * Unit tests for rules/policy.c's answer at each SMTP command
 * (policy_decide_stage): verdicts and symbol lists before DATA, the
 * default replies per stage, delay_reject deferring the stages before RCPT,
 * and DATA falling through to policy_decide() (the score counts there
 * only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config.h"
#include "rules/policy.h"

struct stage_case {
	const char *name;
	enum policy_stage stage;
	bool delay;
	enum policy_verdict verdict;
	int code;	  /* the filter's, 0 = none */
	const char *text; /* the filter's, NULL = none */
	const char *symbol;
	double score;
	/* want */
	enum policy_verdict action;
	int want_code;
	const char *want_enhanced;
	const char *want_text; /* substring */
	bool deferred;
};

static const struct stage_case cases[] = {
    {"connect continue", POLICY_STAGE_CONNECT, true, POLICY_CONTINUE, 0, NULL,
     NULL, 0, POLICY_ACCEPT, 0, NULL, NULL, false},
    {"connect reject deferred", POLICY_STAGE_CONNECT, true, POLICY_REJECT, 0,
     NULL, NULL, 0, POLICY_REJECT, 554, "5.7.1", "Client host rejected", true},
    {"connect reject now", POLICY_STAGE_CONNECT, false, POLICY_REJECT, 0, NULL,
     NULL, 0, POLICY_REJECT, 554, "5.7.1", "Client host rejected", false},
    {"helo tempfail", POLICY_STAGE_HELO, true, POLICY_TEMPFAIL, 0, NULL, NULL,
     0, POLICY_TEMPFAIL, 451, "4.7.1", "try again later", true},
    {"mail filter reply", POLICY_STAGE_MAIL, true, POLICY_REJECT, 553,
     "go away", NULL, 0, POLICY_REJECT, 553, "5.7.1", "go away", true},
    {"mail symbol", POLICY_STAGE_MAIL, false, POLICY_CONTINUE, 0, NULL,
     "SPF_FAIL", 3, POLICY_REJECT, 550, "5.7.23",
     "Sender address rejected by policy (SPF_FAIL)", false},
    {"rcpt reject never deferred", POLICY_STAGE_RCPT, true, POLICY_REJECT, 0,
     NULL, NULL, 0, POLICY_REJECT, 550, "5.7.1", "Recipient address rejected",
     false},
    {"rcpt tempfail symbol", POLICY_STAGE_RCPT, true, POLICY_CONTINUE, 0, NULL,
     "SOFT", 0, POLICY_TEMPFAIL, 451, "4.7.1", "(SOFT)", false},
    {"connect rbl symbol", POLICY_STAGE_CONNECT, true, POLICY_CONTINUE, 0, NULL,
     "RBL_X", 5, POLICY_REJECT, 554, "5.7.1",
     "Client host rejected by policy (RBL_X)", true},
    {"score only at data", POLICY_STAGE_RCPT, true, POLICY_CONTINUE, 0, NULL,
     "OTHER", 50, POLICY_ACCEPT, 0, NULL, NULL, false},
    {"score at data", POLICY_STAGE_DATA, true, POLICY_CONTINUE, 0, NULL,
     "OTHER", 50, POLICY_REJECT, 550, "5.7.1", "score 50.0", false},
    {"accept before data", POLICY_STAGE_MAIL, true, POLICY_ACCEPT, 0, NULL,
     NULL, 0, POLICY_ACCEPT, 0, NULL, NULL, false},
    {"discard acts at data", POLICY_STAGE_RCPT, true, POLICY_DISCARD, 0, NULL,
     NULL, 0, POLICY_ACCEPT, 0, NULL, NULL, false},
    {"quarantine acts at data", POLICY_STAGE_RCPT, true, POLICY_QUARANTINE, 0,
     NULL, NULL, 0, POLICY_ACCEPT, 0, NULL, NULL, false},
    {"quarantine at data", POLICY_STAGE_DATA, true, POLICY_QUARANTINE, 0, NULL,
     NULL, 0, POLICY_QUARANTINE, 0, NULL, NULL, false},
    {"reject symbol beats quarantine", POLICY_STAGE_DATA, true,
     POLICY_QUARANTINE, 0, NULL, "SPF_FAIL", 0, POLICY_REJECT, 550, "5.7.23",
     "(SPF_FAIL)", false},
};

static void
test_decide_stage(void **state)
{
	struct str_list reject = {0}, tempfail = {0};

	(void)state;
	str_list_add(&reject, "SPF_FAIL");
	str_list_add(&reject, "RBL_X");
	str_list_add(&tempfail, "SOFT");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct stage_case *c = &cases[i];
		struct policy_config cfg = {&reject, &tempfail, 10, c->delay};
		const char *syms[] = {c->symbol};
		struct policy_input in;
		struct policy_answer ans;

		memset(&in, 0, sizeof(in));
		in.verdict = c->verdict;
		in.code = c->code;
		in.text = c->text;
		in.symbols = syms;
		in.symbol_count = c->symbol != NULL ? 1 : 0;
		in.score = c->score;
		policy_decide_stage(&cfg, c->stage, &in, &ans);
		if (ans.action != c->action)
			fail_msg("%s: action %d, want %d", c->name,
				 (int)ans.action, (int)c->action);
		if (c->want_code != 0 && ans.code != c->want_code)
			fail_msg("%s: code %d", c->name, ans.code);
		if (c->want_enhanced != NULL &&
		    strcmp(ans.enhanced, c->want_enhanced) != 0)
			fail_msg("%s: enhanced %s", c->name, ans.enhanced);
		if (c->want_text != NULL &&
		    strstr(ans.text, c->want_text) == NULL)
			fail_msg("%s: text '%s'", c->name, ans.text);
		if (ans.deferred != c->deferred)
			fail_msg("%s: deferred %d", c->name, ans.deferred);
	}
	str_list_free(&reject);
	str_list_free(&tempfail);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide_stage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
