/*
 * libFuzzer target for lib/config.c: arbitrary bytes parsed as moat.conf
 * with the real settings table (gateway/settings.c). Every run frees the
 * settings and the error, so leaks show up under ASan's leak checker.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct moat_settings settings;
	char *error = NULL;
	int ret;

	ret = config_parse_text(moat_setting_defs, moat_setting_defs_count,
				&settings, (const char *)data, size,
				"fuzz.conf", &error);
	if (ret < 0) {
		/* Errors always name the place. */
		if (error == NULL || strncmp(error, "fuzz.conf:", 10) != 0)
			abort();
		free(error);
	} else if (error != NULL || settings.data_dir == NULL ||
		   settings.data_dir[0] != '/') {
		abort();
	}
	config_free(moat_setting_defs, moat_setting_defs_count, &settings);
	return 0;
}
