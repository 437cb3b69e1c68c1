/*
 * Unit tests for mailstore/msg_structure.c: ENVELOPE and BODYSTRUCTURE of
 * tricky messages (multipart/alternative in mixed, message/rfc822, encoded
 * words, groups, 8-bit, missing boundaries, bare LF, nested multiparts
 * sharing a boundary, RFC 2231), with expected strings checked against
 * Dovecot 2.3's output for the same bytes where we do not differ on
 * purpose; section ranges, HEADER.FIELDS filtering, transfer decoding and
 * BINARY, the blob round trip and its rejection of damaged blobs, nesting
 * bombs, and the shared test data: every mimekit/cpython-email message
 * parses and round-trips, and the part offsets of mimekit's mbox match its
 * expected byte offsets, with LF and with CRLF line ends (skipped cleanly
 * when ../shared/testdata is absent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "mailstore/msg_structure.h"

static const char msg_mixed[] =
    "From: Joe Q. Public <joe@example.com>\r\n"
    "To: a@b.c, \"Doe, Jane\" <jane@x.y>, friends: x@y.z, (c) w@v.u;\r\n"
    "Cc: undisclosed-recipients:;\r\n"
    "Subject: =?utf-8?q?hi?=\r\n there\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "Message-ID: <1@x>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "\r\n"
    "plain text\r\n"
    "--inner\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<p>caf=C3=A9</p>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: x@y\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "body\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf; name=\"a b.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"a b.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "aGVs\r\nbG8=\r\n"
    "--outer--\r\n"
    "epilogue\r\n";

static const char msg_broken[] =
    "Subject: caf\xc3\xa9 \"q\"\n"
    "From: \"A \\\"B\\\"\" <a@b>, c@d (Cee Dee)\n"
    "To: <@r1,@r2:u@h>, bare\n"
    "Content-Type: multipart/mixed; boundary=b\n"
    "\n"
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "one\n"
    "--b\n"
    "Content-Type: multipart/related; boundary=never\n"
    "\n"
    "no delimiters here\n"
    "--b\n"
    "Content-Type: multipart/mixed\n"
    "\n"
    "no boundary param\n"
    "--b\n"
    "\n"
    "last part, no close delimiter\n";

static const char msg_simple_lf[] = "From: a@b\nSubject: x\n\nbody\n";

static const char msg_top_rfc822[] =
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: in\r\n"
    "Content-Type: multipart/mixed; boundary=z\r\n"
    "\r\n"
    "--z\r\n"
    "\r\n"
    "A\r\n"
    "--z\r\n"
    "Content-Type: image/png\r\n"
    "Content-Language: en, de\r\n"
    "Content-Location: http://x/y\r\n"
    "\r\n"
    "B\r\n"
    "--z--\r\n";

static const char msg_no_header_end[] = "Subject: only a header\r\n"
					"Reply-To:\r\n";

static const char msg_digest[] =
    "Content-Type: multipart/digest; boundary=d\r\n"
    "\r\n"
    "--d\r\n"
    "\r\n"
    "Subject: one\r\n"
    "\r\n"
    "first\r\n"
    "--d\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "second\r\n"
    "--d--\r\n";

static const char msg_rfc2231[] =
    "Content-Type: application/pdf; name*1=\"b.pdf\"; name*0=\"a \"; x=y\r\n"
    "Content-Disposition: attachment; filename*0*=utf-8''caf%C3%A9;\r\n"
    " filename*1*=%20x.pdf; filename*3=gap\r\n"
    "\r\n"
    "x";

/* Nested multiparts that reuse their parent's boundary (Mac Outlook
 * Express): the innermost multipart takes each delimiter, as in Dovecot. */
static const char msg_same_boundary[] =
    "From: a@b\r\n"
    "Cc: c@d\r\n"
    "Cc: e@f\r\n"
    "Content-Type: multipart/mixed; boundary=\"S\"\r\n"
    "\r\n"
    "--S\r\n"
    "Content-Type: multipart/alternative; boundary=\"S\"\r\n"
    "\r\n"
    "--S\r\n"
    "Content-Type: text/plain; format=flowed\r\n"
    "\r\n"
    "plain\r\n"
    "--S\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<b>html</b>\r\n"
    "--S--\r\n"
    "\r\n"
    "--S\r\n"
    "Content-Type: multipart/signed; boundary*=us-ascii''in%20ner\r\n"
    "\r\n"
    "--in ner\r\n"
    "\r\n"
    "signed\r\n"
    "--in ner--\r\n"
    "--S--\r\n";

struct structure_case {
	const char *name;
	const char *message;
	const char *envelope;
	const char *bodystructure;
	const char *body; /* non-extensible BODY */
};

static const struct structure_case structure_cases[] = {
    {"mixed with alternative, rfc822 and attachment", msg_mixed,
     "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"=?utf-8?q?hi?= there\" ((\"Joe Q. "
     "Public\" NIL \"joe\" \"example.com\")) ((\"Joe Q. Public\" NIL \"joe\" "
     "\"example.com\")) ((\"Joe Q. Public\" NIL \"joe\" \"example.com\")) "
     "((NIL NIL \"a\" \"b.c\")(\"Doe, Jane\" NIL \"jane\" \"x.y\")(NIL NIL "
     "\"friends\" NIL)(NIL NIL \"x\" \"y.z\")(\"c\" NIL \"w\" \"v.u\")(NIL NIL "
     "NIL NIL)) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
     "NIL NIL \"<1@x>\")",
     "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 "
     "NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL "
     "\"quoted-printable\" 16 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" "
     "\"inner\") NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 33 "
     "(NIL \"inner\" ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL "
     "\"x\" \"y\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 4 0 NIL NIL NIL NIL) 3 NIL NIL NIL "
     "NIL)(\"application\" \"pdf\" (\"name\" \"a b.pdf\") NIL NIL \"base64\" "
     "10 NIL (\"attachment\" (\"filename\" \"a b.pdf\")) NIL NIL) \"mixed\" "
     "(\"boundary\" \"outer\") NIL NIL NIL)",
     "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 "
     "0)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL "
     "\"quoted-printable\" 16 0) \"alternative\")(\"message\" \"rfc822\" NIL "
     "NIL NIL \"7bit\" 33 (NIL \"inner\" ((NIL NIL \"x\" \"y\")) ((NIL NIL "
     "\"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL NIL NIL NIL NIL) (\"text\" "
     "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0) "
     "3)(\"application\" \"pdf\" (\"name\" \"a b.pdf\") NIL NIL \"base64\" 10) "
     "\"mixed\")"},
    {"broken: 8-bit subject, quoted names, route, missing boundaries",
     msg_broken,
     "(NIL {9}\r\ncaf\xc3"
     "\xa9"
     " \"q\" ((\"A \\\"B\\\"\" NIL \"a\" \"b\")(\"Cee Dee\" NIL \"c\" \"d\")) "
     "((\"A \\\"B\\\"\" NIL \"a\" \"b\")(\"Cee Dee\" NIL \"c\" \"d\")) ((\"A "
     "\\\"B\\\"\" NIL \"a\" \"b\")(\"Cee Dee\" NIL \"c\" \"d\")) ((NIL "
     "\"@r1,@r2\" \"u\" \"h\")(NIL NIL \"bare\" \"MISSING_DOMAIN\")) NIL NIL "
     "NIL NIL)",
     "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL "
     "NIL NIL NIL)((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
     "\"7bit\" 0 0 NIL NIL NIL NIL) \"related\" (\"boundary\" \"never\") NIL "
     "NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
     "17 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 30 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL "
     "NIL NIL)",
     NULL},
    {"single part, bare LF", msg_simple_lf,
     "(NIL \"x\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL "
     "\"a\" \"b\")) NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL "
     "NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1)"},
    {"message/rfc822 at the top, language list and location", msg_top_rfc822,
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 166 (NIL \"in\" NIL NIL NIL "
     "NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
     "NIL \"7bit\" 1 0 NIL NIL NIL NIL)(\"image\" \"png\" NIL NIL NIL \"7bit\" "
     "1 NIL NIL (\"en\" \"de\") \"http://x/y\") \"mixed\" (\"boundary\" \"z\") "
     "NIL NIL NIL) 13 NIL NIL NIL NIL)",
     NULL},
    {"header without blank line, empty Reply-To", msg_no_header_end,
     "(NIL \"only a header\" NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL "
     "NIL NIL NIL)",
     NULL},
    {"RFC 2231 continuations joined", msg_rfc2231,
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "(\"application\" \"pdf\" (\"name\" \"a b.pdf\" \"x\" \"y\") NIL NIL "
     "\"7bit\" 1 NIL (\"attachment\" (\"filename*\" "
     "\"utf-8''caf%C3%A9%20x.pdf\" \"filename*3\" \"gap\")) NIL NIL)",
     NULL},
    {"nested multiparts with one boundary, boundary*, repeated Cc",
     msg_same_boundary,
     "(NIL NIL ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" "
     "\"b\")) NIL ((NIL NIL \"c\" \"d\")(NIL NIL \"e\" \"f\")) NIL NIL NIL)",
     "(((\"text\" \"plain\" (\"format\" \"flowed\" \"charset\" \"us-ascii\") "
     "NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) \"alternative\" "
     "(\"boundary\" \"S\") NIL NIL NIL)((\"text\" \"plain\" (\"charset\" "
     "\"us-ascii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL NIL) \"signed\" "
     "(\"boundary*\" \"us-ascii''in%20ner\") NIL NIL NIL) \"mixed\" "
     "(\"boundary\" \"S\") NIL NIL NIL)",
     NULL},
    {"digest parts default to message/rfc822", msg_digest,
     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
     "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" NIL NIL "
     "NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") "
     "NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)(\"text\" "
     "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL "
     "NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
     NULL},
};

static struct msg_structure *
parse_str(const char *message)
{
	struct msg_structure *s = NULL;
	char *error = NULL;

	assert_int_equal(
	    msg_structure_parse(message, strlen(message), &s, &error), 0);
	assert_null(error);
	return s;
}

/* Serialises, deserialises, and checks the copy says the same. */
static void
assert_round_trip(const struct msg_structure *s)
{
	struct buf blob = {0}, blob2 = {0}, a = {0}, b = {0};
	struct msg_structure *copy = NULL;
	char *error = NULL;

	msg_structure_serialize(s, &blob);
	assert_int_equal(
	    msg_structure_deserialize(blob.data, blob.len, &copy, &error), 0);
	msg_structure_serialize(copy, &blob2);
	assert_int_equal(blob.len, blob2.len);
	assert_memory_equal(blob.data, blob2.data, blob.len);
	msg_structure_bodystructure(s, true, &a);
	msg_structure_bodystructure(copy, true, &b);
	assert_string_equal(buf_cstr(&a), buf_cstr(&b));
	buf_reset(&a);
	buf_reset(&b);
	msg_structure_envelope(s, &a);
	msg_structure_envelope(copy, &b);
	assert_string_equal(buf_cstr(&a), buf_cstr(&b));
	msg_structure_free(&copy);
	buf_free(&blob);
	buf_free(&blob2);
	buf_free(&a);
	buf_free(&b);
}

static void
test_structure_table(void **state)
{
	(void)state;
	for (size_t i = 0;
	     i < sizeof(structure_cases) / sizeof(structure_cases[0]); i++) {
		const struct structure_case *c = &structure_cases[i];
		struct msg_structure *s = parse_str(c->message);
		struct buf out = {0};

		print_message("case: %s\n", c->name);
		msg_structure_envelope(s, &out);
		assert_string_equal(buf_cstr(&out), c->envelope);
		buf_reset(&out);
		msg_structure_bodystructure(s, true, &out);
		assert_string_equal(buf_cstr(&out), c->bodystructure);
		if (c->body != NULL) {
			buf_reset(&out);
			msg_structure_bodystructure(s, false, &out);
			assert_string_equal(buf_cstr(&out), c->body);
		}
		assert_int_equal(msg_structure_size(s), strlen(c->message));
		assert_round_trip(s);
		buf_free(&out);
		msg_structure_free(&s);
	}
}

struct section_case {
	const char *message;
	const char *spec;
	int ret;
	enum msg_section_kind kind;
	const char *want; /* the bytes of the range */
};

static const struct section_case section_cases[] = {
    {msg_mixed, "1.1", 1, MSG_SECTION_PART, "plain text"},
    {msg_mixed, "1.2", 1, MSG_SECTION_PART, "<p>caf=C3=A9</p>"},
    {msg_mixed, "1.2.MIME", 1, MSG_SECTION_MIME,
     "Content-Type: text/html; charset=UTF-8\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\n"},
    {msg_mixed, "2", 1, MSG_SECTION_PART,
     "From: x@y\r\nSubject: inner\r\n\r\nbody"},
    {msg_mixed, "2.HEADER", 1, MSG_SECTION_HEADER,
     "From: x@y\r\nSubject: inner\r\n\r\n"},
    {msg_mixed, "2.header.fields", 1, MSG_SECTION_HEADER_FIELDS,
     "From: x@y\r\nSubject: inner\r\n\r\n"},
    {msg_mixed, "2.TEXT", 1, MSG_SECTION_TEXT, "body"},
    {msg_mixed, "2.1", 1, MSG_SECTION_PART, "body"},
    {msg_mixed, "2.MIME", 1, MSG_SECTION_MIME,
     "Content-Type: message/rfc822\r\n\r\n"},
    {msg_mixed, "3", 1, MSG_SECTION_PART, "aGVs\r\nbG8="},
    {msg_mixed, "4", 0, 0, NULL},
    {msg_mixed, "2.1.1", 0, 0, NULL},
    {msg_mixed, "1.1.1", 0, 0, NULL},
    {msg_mixed, "1.HEADER", 0, 0, NULL},
    {msg_mixed, "9.1.HEADER", 0, 0, NULL},
    {msg_mixed, "0", -1, 0, NULL},
    {msg_mixed, "1.", -1, 0, NULL},
    {msg_mixed, "1..2", -1, 0, NULL},
    {msg_mixed, "MIME", -1, 0, NULL},
    {msg_mixed, "1.BOGUS", -1, 0, NULL},
    {msg_mixed, "99999999999", -1, 0, NULL},
    {msg_mixed, "1x", -1, 0, NULL},
    {msg_simple_lf, "", 1, MSG_SECTION_WHOLE, msg_simple_lf},
    {msg_simple_lf, "HEADER", 1, MSG_SECTION_HEADER,
     "From: a@b\nSubject: x\n\n"},
    {msg_simple_lf, "TEXT", 1, MSG_SECTION_TEXT, "body\n"},
    {msg_simple_lf, "1", 1, MSG_SECTION_PART, "body\n"},
    {msg_simple_lf, "1.MIME", 1, MSG_SECTION_MIME, "From: a@b\nSubject: x\n\n"},
    {msg_simple_lf, "1.1", 0, 0, NULL},
    {msg_simple_lf, "2", 0, 0, NULL},
    {msg_top_rfc822, "1.HEADER", 1, MSG_SECTION_HEADER,
     "Subject: in\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"},
    {msg_top_rfc822, "1.1", 1, MSG_SECTION_PART, "A"},
    {msg_top_rfc822, "1.2", 1, MSG_SECTION_PART, "B"},
    {msg_top_rfc822, "1.3", 0, 0, NULL},
    {msg_broken, "4", 1, MSG_SECTION_PART, "last part, no close delimiter\n"},
    {msg_broken, "2", 1, MSG_SECTION_PART, "no delimiters here"},
    {msg_broken, "2.1", 0, 0, NULL},
    {msg_no_header_end, "TEXT", 1, MSG_SECTION_TEXT, ""},
    {msg_same_boundary, "1.2", 1, MSG_SECTION_PART, "<b>html</b>"},
    {msg_same_boundary, "2.1", 1, MSG_SECTION_PART, "signed"},
    {msg_same_boundary, "3", 0, 0, NULL},
};

static void
test_sections(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(section_cases) / sizeof(section_cases[0]);
	     i++) {
		const struct section_case *c = &section_cases[i];
		struct msg_structure *s = parse_str(c->message);
		struct msg_section sec;
		char *error = NULL;
		int ret;

		print_message("section %s\n", c->spec);
		ret = msg_structure_section(s, c->spec, &sec, &error);
		assert_int_equal(ret, c->ret);
		if (ret < 0) {
			assert_non_null(error);
			free(error);
		} else if (ret > 0) {
			assert_int_equal(sec.kind, c->kind);
			assert_int_equal(sec.size, strlen(c->want));
			assert_memory_equal(c->message + sec.offset, c->want,
					    sec.size);
		}
		msg_structure_free(&s);
	}
}

static void
test_header_filter(void **state)
{
	static const char header[] = "Received: a\r\n b\r\n"
				     "Subject: s\r\n"
				     "X-Folded: x\r\n\ty\r\n"
				     "subject: second\r\n"
				     "\r\n"
				     "Body: not a header\r\n";
	const char *fields[] = {"SUBJECT", "x-folded"};
	struct buf out = {0};

	msg_header_filter(header, strlen(header), fields, 2, false, &out);
	assert_string_equal(buf_cstr(&out),
			    "Subject: s\r\nX-Folded: x\r\n\ty\r\n"
			    "subject: second\r\n\r\n");
	buf_reset(&out);
	msg_header_filter(header, strlen(header), fields, 2, true, &out);
	assert_string_equal(buf_cstr(&out), "Received: a\r\n b\r\n\r\n");
	buf_reset(&out);
	msg_header_filter(header, strlen(header), fields, 0, false, &out);
	assert_string_equal(buf_cstr(&out), "\r\n");
	buf_reset(&out);
	/* A last line without its line end still gets one. */
	msg_header_filter("Subject: s", 10, fields, 1, false, &out);
	assert_string_equal(buf_cstr(&out), "Subject: s\r\n\r\n");
	buf_free(&out);
}

struct decode_case {
	const char *encoding;
	const char *in;
	int ret;
	const char *want;
};

static const struct decode_case decode_cases[] = {
    {"base64", "aGVs\r\nbG8=\r\n", 0, "hello"},
    {"BASE64", "aGVsbG8gd29ybGQ", 0, "hello world"},
    {"base64", "a*G!V-s", 0, "hel"},
    {"quoted-printable", "caf=C3=A9 =\r\nsoft  \r\nhard\r\n", 0,
     "caf\xc3\xa9 soft\r\nhard\r\n"},
    {"quoted-printable", "bad =ZZ and =4", 0, "bad =ZZ and =4"},
    {"quoted-printable", "lower =c3=a9\nlf", 0, "lower \xc3\xa9\r\nlf"},
    {"7bit", "as is\r\n", 0, "as is\r\n"},
    {"8bit", "\xff", 0, "\xff"},
    {"binary", "x", 0, "x"},
    {"x-uuencode", "begin", -1, ""},
};

static void
test_transfer_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]);
	     i++) {
		const struct decode_case *c = &decode_cases[i];
		struct buf out = {0};

		assert_int_equal(msg_transfer_decode(c->encoding, c->in,
						     strlen(c->in), &out),
				 c->ret);
		assert_string_equal(buf_cstr(&out), c->want);
		buf_free(&out);
	}
}

static void
test_binary(void **state)
{
	struct msg_structure *s = parse_str(msg_mixed);
	struct buf out = {0};
	char *error = NULL;
	bool unknown = false;

	(void)state;
	assert_int_equal(msg_structure_binary(s, msg_mixed, strlen(msg_mixed),
					      "3", &out, &unknown, &error),
			 1);
	assert_string_equal(buf_cstr(&out), "hello");
	buf_reset(&out);
	assert_int_equal(msg_structure_binary(s, msg_mixed, strlen(msg_mixed),
					      "1.2", &out, &unknown, &error),
			 1);
	assert_string_equal(buf_cstr(&out), "<p>caf\xc3\xa9</p>");
	buf_reset(&out);
	assert_int_equal(msg_structure_binary(s, msg_mixed, strlen(msg_mixed),
					      "7", &out, &unknown, &error),
			 0);
	assert_int_equal(msg_structure_binary(s, msg_mixed, strlen(msg_mixed),
					      "2.HEADER", &out, &unknown,
					      &error),
			 -1);
	assert_false(unknown);
	free(error);
	error = NULL;
	/* The structure must match the data it is applied to. */
	assert_int_equal(
	    msg_structure_binary(s, msg_mixed, 10, "3", &out, &unknown, &error),
	    -1);
	free(error);
	msg_structure_free(&s);

	s = parse_str("Content-Transfer-Encoding: x-gzip\r\n\r\nzz");
	error = NULL;
	assert_int_equal(msg_structure_binary(
			     s, "Content-Transfer-Encoding: x-gzip\r\n\r\nzz",
			     39, "1", &out, &unknown, &error),
			 -1);
	assert_true(unknown);
	free(error);
	msg_structure_free(&s);
	buf_free(&out);
}

static void
test_headers_and_parts(void **state)
{
	struct msg_structure *s = parse_str(msg_mixed);
	struct msg_part_info info;

	(void)state;
	assert_string_equal(msg_structure_header(s, MSG_HDR_SUBJECT),
			    "=?utf-8?q?hi?= there");
	assert_string_equal(msg_structure_header(s, MSG_HDR_MESSAGE_ID),
			    "<1@x>");
	assert_null(msg_structure_header(s, MSG_HDR_REFERENCES));
	assert_null(msg_structure_header(s, MSG_HDR_COUNT));
	/* mixed, alternative, text, html, rfc822, its text, pdf */
	assert_int_equal(msg_structure_part_count(s), 7);
	assert_true(msg_structure_part(s, 3, &info));
	assert_string_equal(info.subtype, "html");
	assert_string_equal(info.charset, "UTF-8");
	assert_string_equal(info.encoding, "quoted-printable");
	assert_int_equal(info.depth, 2);
	assert_true(msg_structure_part(s, 4, &info));
	assert_true(info.message);
	assert_true(msg_structure_part(s, 0, &info));
	assert_true(info.multipart);
	assert_false(msg_structure_part(s, 7, &info));
	msg_structure_free(&s);
}

static void
test_blob_damage(void **state)
{
	struct msg_structure *s = parse_str(msg_mixed), *copy = NULL;
	struct buf blob = {0};
	char *error = NULL;

	(void)state;
	msg_structure_serialize(s, &blob);
	/* Every truncation is refused. */
	for (size_t len = 0; len < blob.len; len++) {
		assert_int_equal(
		    msg_structure_deserialize(blob.data, len, &copy, &error),
		    -1);
		assert_non_null(error);
		x_free(&error);
	}
	/* Trailing garbage too. */
	buf_append_char(&blob, 'x');
	assert_int_equal(
	    msg_structure_deserialize(blob.data, blob.len, &copy, &error), -1);
	x_free(&error);
	/* Every single-byte change either fails or yields a structure that
	 * still behaves (no crash, ranges inside the message). */
	blob.len--;
	for (size_t i = 0; i < blob.len; i++) {
		char saved = blob.data[i];
		blob.data[i] = (char)(saved ^ 0x41);
		if (msg_structure_deserialize(blob.data, blob.len, &copy,
					      &error) == 0) {
			struct buf out = {0};
			struct msg_section sec;
			msg_structure_bodystructure(copy, true, &out);
			msg_structure_envelope(copy, &out);
			if (msg_structure_section(copy, "1.2", &sec, &error) >
			    0)
				assert_true(sec.offset + sec.size <=
					    msg_structure_size(copy));
			x_free(&error);
			buf_free(&out);
			msg_structure_free(&copy);
		} else {
			x_free(&error);
		}
		blob.data[i] = saved;
	}
	buf_free(&blob);
	msg_structure_free(&s);
}

static void assert_imap_balanced(const char *s, size_t len);

/* BODYSTRUCTURE of s is well formed; returns the number of envelopes. */
static size_t
assert_bodystructure_ok(const struct msg_structure *s)
{
	struct buf out = {0};
	size_t n = 0;

	msg_structure_bodystructure(s, true, &out);
	assert_imap_balanced(out.data, out.len);
	for (const char *p = buf_cstr(&out);
	     (p = strstr(p, "\"rfc822\"")) != NULL; p++)
		n++;
	buf_free(&out);
	return n;
}

static void
test_bombs(void **state)
{
	struct buf m = {0};
	struct msg_structure *s = NULL;
	char *error = NULL;

	(void)state;
	/* 200 nested multiparts: the descent stops at the depth limit. */
	for (int i = 0; i < 200; i++)
		buf_printf(&m,
			   "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
			   "--b%d\r\n",
			   i, i);
	buf_append_str(&m, "\r\ndeep\r\n");
	assert_int_equal(msg_structure_parse(m.data, m.len, &s, &error), 0);
	assert_true(msg_structure_part_count(s) <= MSG_STRUCTURE_MAX_DEPTH + 1);
	assert_round_trip(s);
	msg_structure_free(&s);
	/* 20000 parts: bounded. */
	buf_reset(&m);
	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		buf_append_str(&m, "--x\r\n\r\n.\r\n");
	assert_int_equal(msg_structure_parse(m.data, m.len, &s, &error), 0);
	assert_int_equal(msg_structure_part_count(s), MSG_STRUCTURE_MAX_PARTS);
	assert_round_trip(s);
	msg_structure_free(&s);
	/* 50 nested message/rfc822: past the depth limit the last one is not
	 * descended into, yet still has an envelope and a body. */
	buf_reset(&m);
	for (int i = 0; i < 50; i++)
		buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
	assert_int_equal(msg_structure_parse(m.data, m.len, &s, &error), 0);
	assert_round_trip(s);
	assert_int_equal(assert_bodystructure_ok(s),
			 MSG_STRUCTURE_MAX_DEPTH + 1);
	msg_structure_free(&s);
	/* Degenerate parts right before delimiters (found by the fuzzer):
	 * children still nest in their parents, so the blob round-trips. */
	{
		static const char degen[] =
		    "Content-Type: multipart/mixed; boundary=O\n\n"
		    "--O\nContent-Type: multipart/mixed; boundary=S\n\n"
		    "--S\n--O\nContent-Type: message/rfc822\n\n--O--\n";
		s = parse_str(degen);
		assert_int_equal(msg_structure_part_count(s), 4);
		assert_round_trip(s);
		assert_int_equal(assert_bodystructure_ok(s), 1);
		msg_structure_free(&s);
	}
	/* Empty input is a message with an empty header and body. */
	assert_int_equal(msg_structure_parse("", 0, &s, &error), 0);
	assert_int_equal(msg_structure_part_count(s), 1);
	assert_round_trip(s);
	msg_structure_free(&s);
	buf_free(&m);
}

/* A file parses as its bytes do; an empty file is an empty message; a
 * missing one is an error naming the path. */
static void
test_parse_file(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	char dir[] = "/tmp/moat-ms-XXXXXX";
	struct msg_structure *s = NULL, *f = NULL;
	char *error = NULL, *path, *empty, *missing;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/m", dir);
	empty = xasprintf("%s/e", dir);
	missing = xasprintf("%s/none", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(msg, 1, sizeof(msg) - 1, fp), sizeof(msg) - 1);
	fclose(fp);
	fp = fopen(empty, "w");
	assert_non_null(fp);
	fclose(fp);

	assert_int_equal(msg_structure_parse_file(path, &f, &error), 0);
	assert_int_equal(msg_structure_parse(msg, sizeof(msg) - 1, &s, &error),
			 0);
	assert_int_equal(msg_structure_size(f), msg_structure_size(s));
	assert_int_equal(msg_structure_part_count(f),
			 msg_structure_part_count(s));
	msg_structure_free(&f);
	msg_structure_free(&s);
	assert_int_equal(msg_structure_parse_file(empty, &f, &error), 0);
	assert_int_equal(msg_structure_size(f), 0);
	msg_structure_free(&f);
	assert_int_equal(msg_structure_parse_file(missing, &f, &error), -1);
	assert_non_null(strstr(error, missing));
	free(error);

	unlink(path);
	unlink(empty);
	rmdir(dir);
	free(path);
	free(empty);
	free(missing);
}

/* ---- shared test data ---- */

static char *
testdata_dir(void)
{
#ifdef MOAT_SOURCE_DIR
	char *dir = xstrdup(MOAT_SOURCE_DIR "/../shared/testdata/mime");
#else
	/* tests/unit/mailstore/this.c -> <repo>/../shared/testdata/mime */
	const char *slash = strrchr(__FILE__, '/');
	char *dir = xasprintf("%.*s/../../../../shared/testdata/mime",
			      slash == NULL ? 1 : (int)(slash - __FILE__),
			      slash == NULL ? "." : __FILE__);
#endif
	struct stat st;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b = {0};
	char chunk[65536];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len_r = b.len;
	return buf_detach(&b);
}

/* Checks that parens balance outside quoted strings and literals. */
static void
assert_imap_balanced(const char *s, size_t len)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '{') {
			char *end;
			unsigned long n = strtoul(s + i + 1, &end, 10);
			assert_true(end[0] == '}' && end[1] == '\r' &&
				    end[2] == '\n');
			i = (size_t)(end - s) + 2 + n;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')') {
			assert_true(--depth >= 0);
		} else {
			assert_true(s[i] != '\r' && s[i] != '\n');
		}
	}
	assert_int_equal(depth, 0);
}

static size_t
check_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t checked = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *path, *data;
		size_t len;
		struct msg_structure *s = NULL;
		char *error = NULL;
		struct buf out = {0};

		if (de->d_name[0] == '.' ||
		    strcmp(de->d_name, "SOURCE.txt") == 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		data = read_file(path, &len);
		free(path);
		if (data == NULL)
			continue;
		assert_int_equal(msg_structure_parse(data, len, &s, &error), 0);
		msg_structure_bodystructure(s, true, &out);
		assert_imap_balanced(out.data, out.len);
		buf_reset(&out);
		msg_structure_bodystructure(s, false, &out);
		assert_imap_balanced(out.data, out.len);
		buf_reset(&out);
		msg_structure_envelope(s, &out);
		assert_imap_balanced(out.data, out.len);
		assert_round_trip(s);
		buf_free(&out);
		msg_structure_free(&s);
		free(data);
		checked++;
	}
	closedir(d);
	return checked;
}

static void
test_shared_messages(void **state)
{
	char *dir = testdata_dir(), *sub;
	size_t n = 0;

	(void)state;
	if (dir == NULL) {
		skip();
		return;
	}
	sub = xasprintf("%s/mimekit/messages", dir);
	n += check_dir(sub);
	free(sub);
	sub = xasprintf("%s/mimekit/partial", dir);
	n += check_dir(sub);
	free(sub);
	sub = xasprintf("%s/cpython-email", dir);
	n += check_dir(sub);
	free(sub);
	print_message("%zu shared messages parsed\n", n);
	assert_true(n > 50);
	free(dir);
}

/* Reads the next number after key in the JSON text at *p; false at the end.
 * Good enough for MimeKit's offset files, which are machine-written. */
static bool
json_next(const char **p, const char *key, uint64_t *v_r)
{
	const char *k = strstr(*p, key);

	if (k == NULL)
		return false;
	k += strlen(key);
	while (*k == '"' || *k == ':' || *k == ' ')
		k++;
	*v_r = strtoull(k, NULL, 10);
	*p = k;
	return true;
}

struct triple {
	uint64_t begin, headers_end, end;
};

/* Checks one mbox against its JSON of expected offsets: for each message,
 * the pre-order list of (begin, headersEnd, end) of its entities, with the
 * JSON's duplicate message/body entries folded. */
static size_t
check_mbox(const char *mbox_path, const char *json_path, bool crlf)
{
	size_t mlen, jlen, messages = 0;
	char *mbox = read_file(mbox_path, &mlen);
	char *json = read_file(json_path, &jlen);

	if (mbox != NULL && crlf) {
		/* MimeKit's "dos" offsets are for the same mbox in CRLF. */
		struct buf b = {0};
		for (size_t i = 0; i < mlen; i++) {
			if (mbox[i] == '\n')
				buf_append_char(&b, '\r');
			buf_append_char(&b, mbox[i]);
		}
		free(mbox);
		mlen = b.len;
		mbox = buf_detach(&b);
	}
	const char *p, *next_marker;
	uint64_t marker;

	if (mbox == NULL || json == NULL) {
		free(mbox);
		free(json);
		return 0;
	}
	p = json;
	if (!json_next(&p, "\"mboxMarkerOffset\"", &marker))
		fail();
	while (p != NULL) {
		struct triple *want = NULL;
		size_t nwant = 0, i;
		const char *scan;
		struct msg_structure *s = NULL;
		char *error = NULL;
		struct msg_part_info info;

		next_marker = strstr(p, "\"mboxMarkerOffset\"");
		scan = p;
		for (;;) {
			struct triple t;
			const char *q = scan;
			if (!json_next(&q, "\"beginOffset\"", &t.begin) ||
			    (next_marker != NULL && q > next_marker))
				break;
			assert_true(json_next(&q, "\"headersEndOffset\"",
					      &t.headers_end));
			assert_true(json_next(&q, "\"endOffset\"", &t.end));
			scan = q;
			if (nwant > 0 && want[nwant - 1].begin == t.begin &&
			    want[nwant - 1].headers_end == t.headers_end &&
			    want[nwant - 1].end == t.end)
				continue;
			want = xreallocarray(want, nwant + 1, sizeof(*want));
			want[nwant++] = t;
		}
		assert_true(nwant > 0);
		assert_true(want[0].end <= mlen);
		assert_int_equal(msg_structure_parse(
				     mbox + want[0].begin,
				     want[0].end - want[0].begin, &s, &error),
				 0);
		for (i = 0; msg_structure_part(s, i, &info); i++) {
			uint64_t base = want[0].begin;
			assert_true(i < nwant);
			assert_int_equal(info.header_offset + base,
					 want[i].begin);
			assert_int_equal(info.body_offset + base,
					 want[i].headers_end);
			assert_int_equal(info.body_offset + info.body_size +
					     base,
					 want[i].end);
		}
		assert_int_equal(i, nwant);
		msg_structure_free(&s);
		free(want);
		messages++;
		if (next_marker == NULL)
			break;
		p = next_marker;
		if (!json_next(&p, "\"mboxMarkerOffset\"", &marker))
			break;
	}
	free(mbox);
	free(json);
	return messages;
}

static void
test_mimekit_mbox_offsets(void **state)
{
	char *dir = testdata_dir();
	char *mbox, *json;
	size_t n;

	(void)state;
	if (dir == NULL) {
		skip();
		return;
	}
	mbox = xasprintf("%s/mimekit/mbox/content-length.mbox.txt", dir);
	json =
	    xasprintf("%s/mimekit/mbox/content-length.unix-offsets.json", dir);
	n = check_mbox(mbox, json, false);
	free(json);
	assert_int_equal(n, 29);
	json =
	    xasprintf("%s/mimekit/mbox/content-length.dos-offsets.json", dir);
	n = check_mbox(mbox, json, true);
	free(mbox);
	free(json);
	assert_int_equal(n, 29);
	mbox = xasprintf("%s/mimekit/mbox/issue1189.mbox.txt", dir);
	json = xasprintf("%s/mimekit/mbox/issue1189.unix-offsets.json", dir);
	n = check_mbox(mbox, json, false);
	free(mbox);
	free(json);
	assert_int_equal(n, 4);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_structure_table),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_header_filter),
	    cmocka_unit_test(test_transfer_decode),
	    cmocka_unit_test(test_binary),
	    cmocka_unit_test(test_headers_and_parts),
	    cmocka_unit_test(test_blob_damage),
	    cmocka_unit_test(test_bombs),
	    cmocka_unit_test(test_parse_file),
	    cmocka_unit_test(test_shared_messages),
	    cmocka_unit_test(test_mimekit_mbox_offsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
