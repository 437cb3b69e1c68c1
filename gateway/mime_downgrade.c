/*
 * mime_downgrade: 8BITMIME to 7-bit conversion for the SMTP client (see
 * mime_downgrade.h). GMime parses the queued message; we walk its tree
 * (into message/rfc822 parts too, where GMime's own walk stops, at most
 * DOWNGRADE_DEPTH_MAX deep) and g_mime_object_encode with the 7-bit
 * constraint chooses each 8-bit leaf's new encoding; and
 * the message is written back with CRLF line ends into a memfd that the
 * client sends instead of the queue file. The result is checked byte by
 * byte: anything still 8-bit (header fields) means "cannot convert".
 */
#include "gateway/mime_downgrade.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "filters/mime.h"
#include "lib/fileio.h"

/* Whether buf has a byte >= 0x80. */
static bool
has_8bit(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] >= 0x80)
			return true;
	return false;
}

/* Deeper nesting is not converted (the message is returned instead). */
#define DOWNGRADE_DEPTH_MAX 64

/* A composite that declared 8bit or binary is 7bit once its parts are. */
static void
declare_7bit(GMimeObject *obj)
{
	const char *cte =
	    g_mime_object_get_header(obj, "Content-Transfer-Encoding");

	if (cte != NULL && (g_ascii_strncasecmp(cte, "8bit", 4) == 0 ||
			    g_ascii_strncasecmp(cte, "binary", 6) == 0))
		g_mime_object_set_header(obj, "Content-Transfer-Encoding",
					 "7bit", NULL);
}

/* Encodes every leaf below obj for 7 bits, inside message/rfc822 parts
 * too (g_mime_object_encode stops there). false: nested too deep. */
static bool
encode_tree(GMimeObject *obj, unsigned int depth)
{
	if (obj == NULL)
		return true;
	if (depth > DOWNGRADE_DEPTH_MAX)
		return false;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		declare_7bit(obj);
		return inner == NULL ||
		       encode_tree(g_mime_message_get_mime_part(inner),
				   depth + 1);
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		declare_7bit(obj);
		for (int i = 0; i < n; i++)
			if (!encode_tree(g_mime_multipart_get_part(mp, i),
					 depth + 1))
				return false;
		return true;
	}
	g_mime_object_encode(obj, GMIME_ENCODING_CONSTRAINT_7BIT);
	return true;
}

/* The 7-bit serialisation of the message in in, or NULL. */
static GByteArray *
downgrade_stream(GMimeStream *in, const char **error_r)
{
	GMimeParser *parser = g_mime_parser_new_with_stream(in);
	GMimeMessage *msg;
	GMimeFormatOptions *opts;
	GMimeStream *out;
	GByteArray *bytes;

	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL) {
		*error_r = "the message cannot be parsed as MIME";
		return NULL;
	}
	if (!encode_tree(g_mime_message_get_mime_part(msg), 0)) {
		*error_r = "MIME parts nested too deep";
		g_object_unref(msg);
		return NULL;
	}
	opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts,
						 GMIME_NEWLINE_FORMAT_DOS);
	bytes = g_byte_array_new();
	out = g_mime_stream_mem_new_with_byte_array(bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(out), FALSE);
	if (g_mime_object_write_to_stream(GMIME_OBJECT(msg), opts, out) < 0 ||
	    g_mime_stream_flush(out) < 0) {
		*error_r = "the converted message cannot be written";
		g_byte_array_free(bytes, TRUE);
		bytes = NULL;
	}
	g_object_unref(out);
	g_mime_format_options_free(opts);
	g_object_unref(msg);
	return bytes;
}

int
mime_downgrade(int fd, off_t offset, size_t len, int *fd_r, size_t *len_r,
	       const char **error_r)
{
	GMimeStream *in;
	GByteArray *bytes;
	int copy, out;

	mime_init();
	copy = dup(fd);
	if (copy < 0) {
		*error_r = "cannot read the queue file";
		return -1;
	}
	/* The stream owns copy and reads only [offset, offset+len). */
	in = g_mime_stream_fs_new_with_bounds(copy, offset,
					      offset + (gint64)len);
	bytes = downgrade_stream(in, error_r);
	g_object_unref(in);
	if (bytes == NULL)
		return -1;
	if (has_8bit(bytes->data, bytes->len)) {
		g_byte_array_free(bytes, TRUE);
		return 0;
	}
	out = memfd_create("moat-7bit", MFD_CLOEXEC);
	if (out < 0 || fileio_write_all(out, bytes->data, bytes->len) < 0) {
		*error_r = "cannot keep the converted message";
		if (out >= 0)
			close(out);
		g_byte_array_free(bytes, TRUE);
		return -1;
	}
	*fd_r = out;
	*len_r = bytes->len;
	g_byte_array_free(bytes, TRUE);
	return 1;
}
