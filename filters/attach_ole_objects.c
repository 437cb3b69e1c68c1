/*
 * attach_ole_objects: Package objects in OLE2 files (see
 * attach_ole_objects.h), read with libgsf (GsfInfileMSOle).
 */
#include "filters/attach_ole_objects.h"

#include <gsf/gsf-infile.h>
#include <gsf/gsf-input.h>
#include <string.h>

#include "filters/attach_ole.h"

#define OLE_OBJECTS_MAX_DEPTH	8
#define OLE_OBJECTS_MAX_ENTRIES 4096

struct ole_objects_walk {
	unsigned int max, found, entries;
	size_t max_bytes;
	bool bounded;
	ole1_fn *fn;
	void *ctx;
};

bool
attach_ole_objects_has(const unsigned char *data, size_t len)
{
	/* "\1Ole10Native" as an OLE2 directory entry name (UTF-16LE) */
	static const char entry[] = "\1\0O\0l\0e\0"
				    "1\0"
				    "0\0N\0a\0t\0i\0v\0e\0";

	return attach_ole_has_entry(data, len, entry, sizeof(entry) - 1);
}

/* An \1Ole10Native stream: a 32-bit size, then the Package. */
static void
ole_objects_native(struct ole_objects_walk *w, GsfInput *in)
{
	gsf_off_t size = gsf_input_size(in);
	size_t want;
	unsigned char *buf;
	bool cut = false;

	if (w->found >= w->max) {
		w->bounded = true;
		return;
	}
	w->found++;
	if (size < 4) {
		w->fn(w->ctx, "Package", "", NULL, 0);
		return;
	}
	want =
	    (guint64)size > w->max_bytes + 4 ? w->max_bytes + 4 : (size_t)size;
	cut = want < (size_t)size;
	buf = g_malloc(want);
	if (gsf_input_read(in, want, buf) == NULL) {
		g_free(buf);
		w->fn(w->ctx, "Package", "", NULL, 0);
		return;
	}
	ole1_native_stream_report(buf, want, cut, (size_t)size, w->fn, w->ctx);
	g_free(buf);
}

static void
ole_objects_storage(struct ole_objects_walk *w, GsfInfile *storage,
		    unsigned int depth)
{
	int n = gsf_infile_num_children(storage);

	if (depth > OLE_OBJECTS_MAX_DEPTH) {
		w->bounded = true;
		return;
	}
	for (int i = 0; i < n && !w->bounded; i++) {
		const char *name = gsf_infile_name_by_index(storage, i);
		GsfInput *in;

		if (++w->entries > OLE_OBJECTS_MAX_ENTRIES) {
			w->bounded = true;
			return;
		}
		in = gsf_infile_child_by_index(storage, i);
		if (in == NULL)
			continue;
		if (GSF_IS_INFILE(in) &&
		    gsf_infile_num_children(GSF_INFILE(in)) >= 0)
			ole_objects_storage(w, GSF_INFILE(in), depth + 1);
		else if (name != NULL && strcmp(name, "\1Ole10Native") == 0)
			ole_objects_native(w, in);
		g_object_unref(in);
	}
}

int
attach_ole_objects_walk(const unsigned char *data, size_t len, unsigned int max,
			size_t max_bytes, ole1_fn *fn, void *ctx)
{
	struct ole_objects_walk w = {max, 0, 0, max_bytes, false, fn, ctx};
	GsfInfile *ole = attach_ole_open(data, len);

	if (ole == NULL)
		return -1;
	ole_objects_storage(&w, ole, 0);
	g_object_unref(ole);
	return w.bounded ? (int)max + 1 : (int)w.found;
}
