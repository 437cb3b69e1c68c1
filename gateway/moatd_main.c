/*
 * moatd: command line of the Moat daemon. Parses the options, then either
 * validates the configuration (--check-config), prints the settings
 * reference (--help-settings) or hands over to the master process.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/master.h"
#include "gateway/settings.h"
#include "lib/version.h"

#define DEFAULT_CONFIG "/etc/moat/moat.conf"

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: moatd [-c FILE] [-f] [--check-config]\n"
	    "\n"
	    "Moat mail gateway daemon.\n"
	    "\n"
	    "  -c, --config FILE   configuration file (default %s,\n"
	    "                      or $MOAT_CONFIG when set)\n"
	    "  -f, --foreground    stay in the foreground, log to stderr\n"
	    "      --check-config  validate the configuration and exit\n"
	    "                      (non-zero, with file:line, on error)\n"
	    "      --help-settings list every setting with its default\n"
	    "      --write-dev-config DATA_DIR\n"
	    "                      write a developer configuration (loopback\n"
	    "                      ports, data under DATA_DIR) to the -c FILE\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this text\n"
	    "\n"
	    "Signals: SIGHUP reloads the configuration, SIGTERM stops "
	    "after\nin-flight transactions.\n",
	    DEFAULT_CONFIG);
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"help-settings", no_argument, NULL, 'S'},
	    {"write-dev-config", required_argument, NULL, 'W'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct master_options options;
	bool check_only = false;
	int opt;

	memset(&options, 0, sizeof(options));
	options.config_path = getenv("MOAT_CONFIG");
	if (options.config_path == NULL || options.config_path[0] == '\0')
		options.config_path = DEFAULT_CONFIG;
	while ((opt = getopt_long(argc, argv, "c:fVh", long_options, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			options.config_path = optarg;
			break;
		case 'f':
			options.foreground = true;
			break;
		case 'C':
			check_only = true;
			break;
		case 'S':
			moat_settings_print_help(stdout);
			return 0;
		case 'W':
			if (moat_settings_write_dev_default(options.config_path,
							    optarg) < 0) {
				fprintf(stderr, "moatd: %s: %s\n",
					options.config_path, strerror(errno));
				return 1;
			}
			return 0;
		case 'V':
			printf("moatd %s\n", MOAT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check_only) {
		struct moat_settings settings;
		char *error = NULL;
		int rc = 0;

		memset(&settings, 0, sizeof(settings));
		if (moat_settings_load(options.config_path, &settings, &error) <
		    0) {
			fprintf(stderr, "%s\n", error);
			free(error);
			rc = 1;
		} else {
			printf("%s: configuration OK\n", options.config_path);
		}
		moat_settings_free(&settings);
		return rc;
	}
	return master_run(&options);
}
