/*
 * mime: the one MIME parse of a message, shared by every filter.
 *
 * mime_parse_*() reads a spooled message once (GMime 3) and produces an
 * immutable struct mime_message: the decoded top-level headers and the raw
 * header block, a flat depth-first array of parts (the tree is given by
 * parent/depth), each leaf's transfer-decoded content, text parts converted
 * to UTF-8 (HTML reduced to text; its links kept in the URL list), file
 * names (RFC 2231 and RFC 2047 names decoded), and the URLs found in text
 * and HTML. Limits (depth, part count, decoded bytes, URLs) stop the walk
 * without failing: each limit hit, and each malformation GMime reports,
 * adds a named symbol (MIME_*) to the message, so a filter can score it.
 *
 * Ownership and lifetime: everything a struct mime_message points at is
 * owned by it (one arena) and lives until mime_message_free(). Filters get
 * a const pointer through a struct mime_slot (below) and must not keep it
 * beyond the filter run of that message. The struct is never modified after
 * the parse, so any number of threads may read it at once.
 *
 * Thread safety: mime_init() once per process (idempotent, thread-safe);
 * parses of different messages may run in parallel on different threads.
 */
#ifndef MOAT_MIME_H
#define MOAT_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Named findings. Each is set at most once per message. */
enum mime_symbol {
	MIME_SYM_TOO_DEEP = 0,	   /* nesting beyond limits.max_depth */
	MIME_SYM_TOO_MANY_PARTS,   /* more parts than limits.max_parts */
	MIME_SYM_TOO_LARGE,	   /* decoded bytes beyond the budget */
	MIME_SYM_TOO_MANY_URLS,	   /* URLs beyond limits.max_urls */
	MIME_SYM_PARSE_ERROR,	   /* no message could be built at all */
	MIME_SYM_MALFORMED,	   /* GMime reported a structural problem */
	MIME_SYM_BAD_HEADER,	   /* invalid header name or encoded word */
	MIME_SYM_BAD_CHARSET,	   /* text in an unknown or broken charset */
	MIME_SYM_NESTING_OVERFLOW, /* GMime's own nesting guard (1024) */
	MIME_SYM_AMBIGUOUS,	   /* a part mail programs may read two ways
				      (mime_part.ambiguity) */
	MIME_SYM_COUNT_,
};

/* "MIME_TOO_DEEP", ...; never NULL for a valid symbol. */
const char *mime_symbol_name(enum mime_symbol sym);

struct mime_limits {
	unsigned int max_depth;	  /* multipart/message nesting; root is 0 */
	unsigned int max_parts;	  /* parts recorded (containers included) */
	size_t max_decoded_size;  /* transfer-decoded bytes kept, in total */
	size_t max_text_size;	  /* UTF-8 text bytes kept, in total */
	unsigned int max_urls;	  /* distinct URLs recorded */
	unsigned int max_headers; /* headers recorded per part */
};

/* Defaults: depth 20, 1000 parts, 64 MiB decoded, 4 MiB text, 2000 URLs,
 * 1000 headers per part. */
void mime_limits_default(struct mime_limits *limits_r);

struct mime_header {
	const char *name;  /* as written (case kept) */
	const char *value; /* unfolded, RFC 2047 decoded, UTF-8 */
	const char *raw;   /* unfolded, as on the wire (may hold 8-bit) */
};

enum mime_part_kind {
	MIME_PART_LEAF,	     /* a body: text, image, application, ... */
	MIME_PART_MULTIPART, /* children follow in the array */
	MIME_PART_MESSAGE,   /* message/rfc822 etc.: one child, the message */
};

struct mime_part {
	enum mime_part_kind kind;
	int parent;	    /* index in mime_message.parts, -1 for the root */
	unsigned int depth; /* 0 for the root */
	/* Lower case "type/subtype"; "text/plain" when absent. */
	const char *content_type;
	const char *charset;	       /* lower case, NULL if none */
	const char *disposition;       /* lower case, NULL if none */
	const char *transfer_encoding; /* lower case, NULL if none */
	const char *filename;	       /* decoded UTF-8, NULL if none */
	/* The other name when Content-Disposition's filename and
	 * Content-Type's name differ (mail programs disagree on which one
	 * they show and save), else NULL. */
	const char *alt_filename;
	bool attachment; /* disposition attachment or a name */
	/* Why mail programs may read this part differently, NULL when they
	 * cannot: two different Content-Type, Content-Disposition or
	 * Content-Transfer-Encoding fields (GMime takes the last, others the
	 * first), or two different boundary, name or filename parameters in
	 * one field (GMime takes the first, others the last). A different
	 * reading shows other parts or another file name than the filters
	 * saw. */
	const char *ambiguity;

	/* Headers of this part (for the root: the message headers; for a
	 * MIME_PART_MESSAGE: its own headers, the inner message's are on the
	 * child). */
	const struct mime_header *headers;
	size_t header_count;

	/* Leaves: the transfer-decoded bytes (NUL-terminated for
	 * convenience, the NUL not counted). content_truncated when the
	 * decoded-size budget ran out within or before this part. */
	const unsigned char *content;
	size_t content_len;
	bool content_truncated;

	/* Leaves of type text (any subtype): the UTF-8 text, HTML reduced to
	 * text (html set); NULL for other leaves. */
	const char *text;
	size_t text_len;
	bool html;
};

/* A link that shows one host and goes to another (filters/shown_link.h). */
struct mime_shown_link {
	const char *shown;  /* the host its text shows */
	const char *target; /* the host it lands on */
};
#define MIME_SHOWN_LINKS_MAX 64

struct mime_message {
	/* The root's headers, repeated here for convenience. */
	const struct mime_header *headers;
	size_t header_count;
	/* The raw top-level header block, as received (up to the blank
	 * line, not included). */
	const char *raw_headers;
	size_t raw_headers_len;

	const struct mime_part *parts; /* depth-first; parts[0] is the root */
	size_t part_count;

	/* All text of the text parts, UTF-8, parts separated by "\n", as a
	 * reader sees it (filters/text_deobfuscate.h: invisible characters
	 * dropped, look-alike letters as ASCII). */
	const char *text;
	size_t text_len;
	/* Signs of obfuscation text_deobfuscate() found in it. */
	size_t text_obfuscations;
	/* The text of hidden HTML elements (filters/html_hidden.h), read the
	 * same way, apart from text: the reader does not see it. */
	const char *hidden_text;
	size_t hidden_text_len;

	/* Distinct URLs from text and HTML (href/src included), in order of
	 * appearance, as written (entities decoded). */
	const char *const *urls;
	size_t url_count;
	/* HTML links whose text shows another host than the one they go to
	 * (filters/shown_link.h), at most MIME_SHOWN_LINKS_MAX. */
	const struct mime_shown_link *shown_links;
	size_t shown_link_count;

	bool symbols[MIME_SYM_COUNT_];
	size_t symbol_count;

	struct pool *pool; /* private: owns everything above */
};

/* Calls g_mime_init() once per process. Safe to call repeatedly and from
 * several threads. */
void mime_init(void);

/*
 * Parses len bytes at offset of fd (the fd is not moved or closed; it may
 * be closed after the call returns). Never fails on bad input: a message
 * GMime cannot build comes back with MIME_SYM_PARSE_ERROR and no parts.
 * Returns 0 with *msg_r set, or -1 with *error_r on an I/O error.
 */
int mime_parse_fd(int fd, off_t offset, size_t len,
		  const struct mime_limits *limits, struct mime_message **msg_r,
		  const char **error_r);
/* Same over bytes in memory (copied; tests and the fuzzer). Never fails. */
struct mime_message *mime_parse_buffer(const void *data, size_t len,
				       const struct mime_limits *limits);
void mime_message_free(struct mime_message **msg);

bool mime_message_has_symbol(const struct mime_message *msg,
			     enum mime_symbol sym);
/* The nth (0-based) header called name (case-insensitive) of the part, or
 * NULL. Decoded value. */
const char *mime_part_header(const struct mime_part *part, const char *name,
			     size_t nth);
/* Same for the message (root) headers. */
const char *mime_message_header(const struct mime_message *msg,
				const char *name, size_t nth);

/*
 * The lazily filled shared slot: a filter context carries one slot per
 * message; the first filter that asks parses, later filters (on any
 * thread) get the same result. The slot owns the parsed message.
 */
struct mime_slot;

/* The fd must stay open and unchanged until mime_slot_free(). limits is
 * copied; NULL means mime_limits_default(). */
struct mime_slot *mime_slot_new(int fd, off_t offset, size_t len,
				const struct mime_limits *limits);
/* Parses on first use (thread-safe). Returns NULL only on an I/O error
 * reading the spool (logged once), never for bad MIME. */
const struct mime_message *mime_slot_get(struct mime_slot *slot);
void mime_slot_free(struct mime_slot **slot);

/*
 * Inside the filter chain (filters/filter.h): the chain keeps one parse per
 * message in its context. mime_filter_register() installs the parser
 * (from a filter's init(), before any message; the "mime" filter passes its
 * configured limits, others NULL, which never overrides configured
 * limits). mime_filter_get() returns the message's parse, parsing on first
 * use; NULL only when the spool could not be read. The parse is owned by
 * the context and freed with it: do not keep it past run().
 */
struct filter_context;
void mime_filter_register(const struct mime_limits *limits);
const struct mime_message *mime_filter_get(struct filter_context *ctx);

/* Where mime_html_to_text() hands the links it finds. */
struct mime_html_sink {
	/* each href/src/action link, entities decoded */
	void (*link)(void *ctx, const char *url, size_t url_len);
	/* each <a href> the reader sees, with the text seen in it (NULL:
	 * not wanted) */
	void (*anchor)(void *ctx, const char *href, size_t href_len,
		       const char *text, size_t text_len);
	void *ctx;
};

/* Reduces HTML to text: what the reader sees appended to seen, the text
 * of hidden elements (filters/html_hidden.h) to hidden (NULL: dropped);
 * links of both go to sink (NULL: dropped). Exposed for tests. */
struct buf;
void mime_html_to_text(const char *html, size_t len, struct buf *seen,
		       struct buf *hidden, const struct mime_html_sink *sink);
/* Calls add_url for each URL found in UTF-8 text (schemes http, https,
 * ftp, mailto, and bare "www." hosts). Exposed for tests. */
void mime_find_urls(const char *text, size_t len,
		    void (*add_url)(void *ctx, const char *url, size_t url_len),
		    void *ctx);

#endif
