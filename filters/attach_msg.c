/*
 * attach_msg: the attachments of an Outlook item (see attach_msg.h), read
 * with libgsf's OLE2 reader (GsfInfileMSOle).
 */
#include "filters/attach_msg.h"

#include <gsf/gsf-infile.h>
#include <gsf/gsf-input.h>
#include <string.h>

#include "filters/attach_ole.h"

#define MSG_NAME_MAX 256

struct msg_walk {
	unsigned int max_files, max_depth, files;
	size_t max_bytes;
	bool bounded;
	attach_msg_fn fn;
	void *ctx;
};

bool
attach_msg_is(const unsigned char *data, size_t len)
{
	/* "__substg1.0_" as an OLE2 directory entry name (UTF-16LE) */
	static const char entry[] = "_\0_\0s\0u\0b\0s\0t\0g\0"
				    "1\0.\0"
				    "0\0_\0";

	return attach_ole_has_entry(data, len, entry, sizeof(entry) - 1);
}

/* A stream of storage by name, read whole when at most max bytes
 * (g_free() it); NULL when absent or larger. */
static unsigned char *
msg_read_stream(GsfInfile *storage, const char *name, size_t max, size_t *len_r)
{
	GsfInput *in = gsf_infile_child_by_name(storage, name);
	gsf_off_t size;
	unsigned char *out = NULL;

	if (in == NULL)
		return NULL;
	size = gsf_input_size(in);
	if (size >= 0 && (guint64)size <= max) {
		out = g_malloc((gsize)size + 1);
		if (size > 0 && gsf_input_read(in, (size_t)size, out) == NULL) {
			g_free(out);
			out = NULL;
		} else {
			*len_r = (size_t)size;
		}
	}
	g_object_unref(in);
	return out;
}

/* The attachment's file name: the long one, else the 8.3 one; Unicode
 * (UTF-16LE, narrowed to ASCII, '?' for the rest) or 8-bit. */
static void
msg_file_name(GsfInfile *att, char *out, size_t outsz)
{
	static const char *const props[] = {
	    "__substg1.0_3707001F", "__substg1.0_3707001E",
	    "__substg1.0_3704001F", "__substg1.0_3704001E", NULL};

	out[0] = '\0';
	for (size_t i = 0; props[i] != NULL; i++) {
		size_t len = 0, n = 0;
		bool wide = props[i][19] == 'F';
		unsigned char *v =
		    msg_read_stream(att, props[i], 2 * MSG_NAME_MAX, &len);

		if (v == NULL)
			continue;
		for (size_t k = 0; k + (wide ? 1 : 0) < len && n + 1 < outsz;
		     k += wide ? 2 : 1) {
			unsigned int c =
			    wide ? v[k] | (unsigned int)v[k + 1] << 8 : v[k];

			if (c == 0)
				break;
			out[n++] = c < 0x80 ? (char)c : '?';
		}
		out[n] = '\0';
		g_free(v);
		if (n > 0)
			return;
	}
}

static void msg_walk_storage(struct msg_walk *w, GsfInfile *item,
			     unsigned int depth);

static void
msg_attachment(struct msg_walk *w, GsfInfile *att, unsigned int depth)
{
	char name[MSG_NAME_MAX];
	size_t len = 0;
	unsigned char *data;
	GsfInput *embedded;

	if (w->files >= w->max_files) {
		w->bounded = true;
		return;
	}
	w->files++;
	msg_file_name(att, name, sizeof(name));
	data = msg_read_stream(att, "__substg1.0_37010102", w->max_bytes, &len);
	w->fn(w->ctx, name, data, data != NULL ? len : 0);
	g_free(data);
	/* An Outlook item attached to this one. */
	embedded = gsf_infile_child_by_name(att, "__substg1.0_3701000D");
	if (embedded != NULL) {
		if (GSF_IS_INFILE(embedded))
			msg_walk_storage(w, GSF_INFILE(embedded), depth + 1);
		g_object_unref(embedded);
	}
}

static void
msg_walk_storage(struct msg_walk *w, GsfInfile *item, unsigned int depth)
{
	int n = gsf_infile_num_children(item);

	if (depth > w->max_depth) {
		w->bounded = true;
		return;
	}
	for (int i = 0; i < n && !w->bounded; i++) {
		const char *child = gsf_infile_name_by_index(item, i);
		GsfInput *in;

		if (child == NULL ||
		    strncmp(child, "__attach_version1.0_#", 21) != 0)
			continue;
		in = gsf_infile_child_by_index(item, i);
		if (in == NULL)
			continue;
		if (GSF_IS_INFILE(in))
			msg_attachment(w, GSF_INFILE(in), depth);
		g_object_unref(in);
	}
}

int
attach_msg_walk(const unsigned char *data, size_t len, unsigned int max_files,
		unsigned int max_depth, size_t max_bytes, attach_msg_fn fn,
		void *ctx)
{
	struct msg_walk w = {max_files, max_depth, 0,  max_bytes,
			     false,	fn,	   ctx};
	GsfInfile *ole = attach_ole_open(data, len);

	if (ole == NULL)
		return -1;
	msg_walk_storage(&w, ole, 0);
	g_object_unref(ole);
	return w.bounded ? -2 : (int)w.files;
}
