/*
 * filter_chain: the (still empty) chain of filters. With no filter
 * registered every message continues to the policy step unchanged.
 */
#include "filters/filter_chain.h"

void
filter_chain_run(const struct filter_envelope *envelope,
		 const struct filter_message *message,
		 struct filter_chain_result *result_r)
{
	(void)envelope;
	(void)message;
	result_r->verdict = POLICY_CONTINUE;
	result_r->code = 0;
	result_r->enhanced = NULL;
	result_r->text = NULL;
}
