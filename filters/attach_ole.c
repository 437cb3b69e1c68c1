/*
 * attach_ole: OLE2 compound files opened with libgsf (see attach_ole.h).
 */
#include "filters/attach_ole.h"

#include <gsf/gsf-infile-msole.h>
#include <gsf/gsf-input-memory.h>
#include <gsf/gsf-utils.h>
#include <pthread.h>
#include <string.h>

bool
attach_ole_magic(const unsigned char *data, size_t len)
{
	return len >= 8 &&
	       memcmp(data, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0;
}

bool
attach_ole_has_entry(const unsigned char *data, size_t len, const char *utf16le,
		     size_t n)
{
	return len >= 512 && attach_ole_magic(data, len) &&
	       memmem(data, len, utf16le, n) != NULL;
}

bool
attach_ole_encrypted_package(const unsigned char *data, size_t len)
{
	static const char name[] =
	    "E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";
	GsfInfile *root;
	GsfInput *package;

	if (!attach_ole_has_entry(data, len, name, sizeof(name) - 1) ||
	    (root = attach_ole_open(data, len)) == NULL)
		return false;
	package = gsf_infile_child_by_name(root, "EncryptedPackage");
	if (package != NULL)
		g_object_unref(package);
	g_object_unref(root);
	return package != NULL;
}

GsfInfile *
attach_ole_open(const unsigned char *data, size_t len)
{
	static pthread_once_t gsf_once = PTHREAD_ONCE_INIT;
	GsfInput *in;
	GsfInfile *ole;
	GError *error = NULL;

	pthread_once(&gsf_once, gsf_init);
	in = gsf_input_memory_new(data, (gsf_off_t)len, FALSE);
	if (in == NULL)
		return NULL;
	ole = gsf_infile_msole_new(in, &error);
	g_object_unref(in);
	if (ole == NULL)
		g_clear_error(&error);
	return ole;
}
