/*
 * Unit tests for gateway/mime_downgrade.c: a table of messages, each
 * written at an offset into a memfd as the queue would hold it, converted
 * to 7 bits; the result code, the 7-bit-ness of the output and the
 * Content-Transfer-Encoding it declares are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/mman.h>
#include <unistd.h>

#include "gateway/mime_downgrade.h"
#include "lib/fileio.h"

struct downgrade_case {
	const char *name;
	const char *message;
	int result;	     /* 1 converted, 0 cannot (8-bit header) */
	const char *present; /* in the output, or NULL */
	const char *absent;  /* not in the output, or NULL */
};

static const struct downgrade_case cases[] = {
    {"mostly ASCII 8bit text: quoted-printable",
     "Subject: x\r\nMIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f"
     "e aus der Schweiz, wo alles sehr ordentlich ist.\r\n",
     1, "Content-Transfer-Encoding: quoted-printable", "8bit"},
    {"no CTE header, 8-bit body",
     "Subject: x\r\n\r\nna\xc3\xafve caf\xc3\xa9\r\n", 1,
     "Content-Transfer-Encoding:", NULL},
    {"mostly 8-bit: base64",
     "Subject: x\r\nMIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: 8bit\r\n\r\n"
     "\xe6\x9d\xb1\xe4\xba\xac\xe6\x9d\xb1\xe4\xba\xac\xe6\x9d\xb1\xe4"
     "\xba\xac\xe6\x9d\xb1\xe4\xba\xac\r\n",
     1, "Content-Transfer-Encoding: base64", NULL},
    {"nested message/rfc822",
     "Subject: outer\r\nMIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
     "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9t\xc3\xa9\r\n"
     "--b--\r\n",
     1, "Subject: inner", "8bit"},
    {"already 7-bit stays readable", "Subject: plain\r\n\r\nhello\r\n", 1,
     "hello", NULL},
    {"8-bit header field",
     "Subject: Gr\xc3\xbc\xc3\x9f"
     "e\r\n\r\nbody\r\n",
     0, NULL, NULL},
};

static int
queue_like_fd(const char *message, off_t *offset_r)
{
	static const char lead[] = "envelope\n";
	int fd = memfd_create("test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fileio_write_all(fd, lead, sizeof(lead) - 1), 0);
	assert_int_equal(fileio_write_all(fd, message, strlen(message)), 0);
	*offset_r = (off_t)sizeof(lead) - 1;
	return fd;
}

static void
test_downgrade_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct downgrade_case *c = &cases[i];
		off_t offset;
		int in = queue_like_fd(c->message, &offset), out = -1;
		const char *error = NULL;
		size_t len = 0;
		int r = mime_downgrade(in, offset, strlen(c->message), &out,
				       &len, &error);

		if (r != c->result)
			fail_msg("%s: result %d, want %d", c->name, r,
				 c->result);
		if (r == 1) {
			char *text = calloc(1, len + 1);

			assert_int_equal(pread(out, text, len, 0),
					 (ssize_t)len);
			for (size_t k = 0; k < len; k++)
				if ((unsigned char)text[k] >= 0x80)
					fail_msg("%s: 8-bit byte at %zu",
						 c->name, k);
			if (c->present != NULL &&
			    strstr(text, c->present) == NULL)
				fail_msg("%s: no \"%s\" in:\n%s", c->name,
					 c->present, text);
			if (c->absent != NULL &&
			    strstr(text, c->absent) != NULL)
				fail_msg("%s: \"%s\" in:\n%s", c->name,
					 c->absent, text);
			free(text);
			close(out);
		}
		close(in);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_downgrade_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
