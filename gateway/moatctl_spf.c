/*
 * moatctl_spf: `moatctl spf` (see moatctl_spf.h). Each lookup goes through
 * a private lib/dns resolver configured like moatd's (dns.servers), bounded
 * by --timeout per lookup; the evaluation is the SPF filter's own
 * spf_evaluate(), so the RFC 7208 suite exercises the production code.
 * Output is one line per query: the result, then the reason if any.
 */
#include "gateway/moatctl_spf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spf.h"
#include "lib/dns.h"

struct spf_cli {
	struct dns *dns;
	long timeout_ms;
};

static int
cli_lookup(void *arg, const char *name, int rrtype,
	   struct dns_answer **answer_r)
{
	struct spf_cli *cli = arg;

	return dns_lookup_wait(cli->dns, name, rrtype, cli->timeout_ms,
			       answer_r);
}

static void
query(struct spf_cli *cli, const char *ip, const char *helo, const char *sender)
{
	struct spf_resolver res = {cli_lookup, cli};
	struct spf_evaluation ev;

	spf_evaluate(&res, ip, helo, sender, &ev);
	printf("%s%s%s\n", spf_result_name(ev.result),
	       ev.reason != NULL ? " " : "",
	       ev.reason != NULL ? ev.reason : "");
	fflush(stdout);
}

int
moatctl_spf(const struct moat_settings *settings, int argc, char **argv)
{
	struct spf_cli cli = {NULL, 5000};
	bool batch = false;
	char *error = NULL;
	int i = 0;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strncmp(argv[i], "--timeout=", 10) == 0) {
			cli.timeout_ms = strtol(argv[i] + 10, NULL, 10);
			if (cli.timeout_ms <= 0)
				return -1;
		} else if (strcmp(argv[i], "--batch") == 0) {
			batch = true;
		} else {
			return -1;
		}
	}
	if ((batch && i != argc) || (!batch && argc - i != 3))
		return -1;
	cli.dns = dns_new(NULL, &settings->dns_servers, &error);
	if (cli.dns == NULL) {
		fprintf(stderr, "moatctl: %s\n", error);
		free(error);
		return 1;
	}
	if (!batch) {
		query(&cli, argv[i], argv[i + 1], argv[i + 2]);
	} else {
		char line[2048];

		while (fgets(line, sizeof(line), stdin) != NULL) {
			char *helo, *sender, *nl = strchr(line, '\n');

			if (nl != NULL)
				*nl = '\0';
			helo = strchr(line, '\t');
			sender = helo != NULL ? strchr(helo + 1, '\t') : NULL;
			if (sender == NULL) {
				printf("error usage\n");
				fflush(stdout);
				continue;
			}
			*helo++ = '\0';
			*sender++ = '\0';
			query(&cli, line, helo, sender);
		}
	}
	dns_free(&cli.dns);
	return 0;
}
