/*
 * Unit tests for filters/clamav.c with a signature database made here (an
 * .ndb rule for the EICAR string, an .hdb hash added later): messages
 * scanned at an offset of a spool-like file, clean mail, an encrypted zip
 * (made with libarchive) reported as encrypted, a reload while threads keep
 * scanning (no scan fails or misses), a broken update keeping the old
 * engine, and the clamd mode against a real clamd when it is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filters/clamav.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#define EICAR                                                                  \
	"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+"  \
	"H*"

static char dbdir[] = "/tmp/test_clamav_db_XXXXXX";

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
write_eicar_ndb(const char *dir)
{
	struct buf b;
	const char *e = EICAR;

	buf_init(&b);
	buf_append_str(&b, "Moat-Test.EICAR:0:*:");
	for (size_t i = 0; e[i]; i++)
		buf_printf(&b, "%02x", (unsigned char)e[i]);
	buf_append_char(&b, '\n');
	buf_append_str(&b, "Heuristics.Moat.Test:0:*:");
	for (const char *m = "MOAT-HEURISTIC-MARKER"; *m; m++)
		buf_printf(&b, "%02x", (unsigned char)*m);
	buf_append_char(&b, '\n');
	write_file(dir, "moat-test.ndb", buf_cstr(&b));
	buf_free(&b);
}

/* A MIME message with data as a base64 attachment. */
static char *
message_with(const char *name, const void *data, size_t len)
{
	gchar *b64 = g_base64_encode(data, len);
	char *m = xasprintf(
	    "From: a@example.test\r\nTo: b@example.test\r\nSubject: t\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	    "boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
	    "see attached\r\n--zz\r\nContent-Type: application/octet-stream; "
	    "name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
	    "--zz--\r\n",
	    name, b64);
	g_free(b64);
	return m;
}

/* A spool-like temp file: junk, then the message; returns the fd. */
static int
spool(const char *msg, off_t *offset_r, size_t *len_r)
{
	char path[] = "/tmp/test_clamav_msg_XXXXXX";
	const char *junk = "QUEUE-ENVELOPE-JUNK\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, junk, strlen(junk)), (ssize_t)strlen(junk));
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	*offset_r = (off_t)strlen(junk);
	*len_r = strlen(msg);
	return fd;
}

static void
config_default(struct clamav_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = CLAMAV_MODE_LIBCLAMAV;
	c->database_dir = dbdir;
	c->max_scan_size = 100 * 1024 * 1024;
	c->max_file_size = 25 * 1024 * 1024;
	c->max_files = 1000;
	c->max_recursion = 16;
	c->detect_encrypted = true;
}

static int
scan_text(struct clamav *av, const char *msg, struct clamav_result *r)
{
	off_t off;
	size_t len;
	int fd = spool(msg, &off, &len);
	const char *error = NULL;
	int ret = clamav_scan(av, fd, off, len, 0, r, &error);

	if (ret < 0)
		print_message("scan error: %s\n", error);

	close(fd);
	return ret;
}

/* An encrypted zip holding name/data, made with libarchive. */
static void *
encrypted_zip(const char *name, const char *data, size_t *len_r)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t cap = 65536, used = 0;
	void *out = xmalloc(cap);

	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	assert_int_equal(
	    archive_write_set_options(a, "zip:encryption=zipcrypt"),
	    ARCHIVE_OK);
	assert_int_equal(archive_write_set_passphrase(a, "secret"), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, out, cap, &used),
			 ARCHIVE_OK);
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)strlen(data));
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, strlen(data)),
			 (la_ssize_t)strlen(data));
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
	*len_r = used;
	return out;
}

static void
test_scan(void **state)
{
	struct clamav_config c;
	struct clamav *av = NULL;
	struct clamav_result r;
	char *error = NULL, *msg;
	size_t zlen;
	void *zip;

	(void)state;
	config_default(&c);
	if (clamav_new(&c, &av, &error) < 0)
		fail_msg("clamav_new: %s", error);
	assert_true(clamav_signature_count(av) >= 1);
	assert_int_equal(clamav_generation(av), 1);

	msg = message_with("eicar.com", EICAR, strlen(EICAR));
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_INFECTED);
	assert_non_null(strstr(r.name, "Moat-Test.EICAR"));
	free(msg);

	assert_int_equal(scan_text(av, "Subject: hi\r\n\r\nclean\r\n", &r), 0);
	assert_int_equal(r.status, CLAMAV_CLEAN);
	assert_string_equal(r.name, "");

	zip = encrypted_zip("hello.txt", "just text", &zlen);
	msg = message_with("secret.zip", zip, zlen);
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_ENCRYPTED);
	assert_non_null(strstr(r.name, "Encrypted"));
	free(msg);

	/* A signature named like a libclamav heuristic is classed as one. */
	msg = message_with("h.txt", "MOAT-HEURISTIC-MARKER", 21);
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_HEURISTIC);
	assert_non_null(strstr(r.name, "Heuristics.Moat"));
	free(msg);

	/* A limit hit is reported, not silent; a virus still wins. */
	clamav_free(&av);
	c.max_file_size = 2000;
	c.max_scan_size = 2000;
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	{
		char big[6000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		msg = message_with("big.txt", big, strlen(big));
		assert_int_equal(scan_text(av, msg, &r), 0);
		print_message("partial: %s\n", r.name);
		assert_int_equal(r.status, CLAMAV_PARTIAL);
		assert_non_null(strstr(r.name, "Limits"));
		free(msg);
	}
	/* max_files hit after the EICAR part: the virus is reported. */
	clamav_free(&av);
	config_default(&c);
	c.max_files = 2;
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	{
		gchar *b64 =
		    g_base64_encode((const guchar *)EICAR, strlen(EICAR));
		struct buf b;

		buf_init(&b);
		buf_append_str(&b, "Subject: t\r\nMIME-Version: 1.0\r\n"
				   "Content-Type: multipart/mixed; boundary=zz"
				   "\r\n\r\n");
		buf_printf(&b,
			   "--zz\r\nContent-Type: application/octet-stream"
			   "\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			   "%s\r\n",
			   b64);
		for (int i = 0; i < 6; i++)
			buf_printf(&b,
				   "--zz\r\nContent-Type: text/plain\r\n"
				   "\r\npart %d\r\n",
				   i);
		buf_append_str(&b, "--zz--\r\n");
		assert_int_equal(scan_text(av, buf_cstr(&b), &r), 0);
		print_message("max_files: %s\n", r.name);
		assert_int_equal(r.status, CLAMAV_INFECTED);
		buf_free(&b);
		g_free(b64);
	}
	clamav_free(&av);
	config_default(&c);
	assert_int_equal(clamav_new(&c, &av, &error), 0);

	/* Without the heuristic the encrypted zip passes. */
	clamav_free(&av);
	c.detect_encrypted = false;
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	msg = message_with("secret.zip", zip, zlen);
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_CLEAN);
	free(msg);
	free(zip);
	clamav_free(&av);
	assert_null(av);
}

struct scanner_arg {
	struct clamav *av;
	atomic_bool *stop; /* set by the main thread (volatile is no sync) */
	unsigned int scans, failures;
};

static void *
scanner_thread(void *p)
{
	struct scanner_arg *arg = p;
	char *msg = message_with("eicar.com", EICAR, strlen(EICAR));

	while (!atomic_load(arg->stop) || arg->scans < 5) {
		struct clamav_result r;

		if (scan_text(arg->av, msg, &r) < 0 ||
		    r.status != CLAMAV_INFECTED)
			arg->failures++;
		arg->scans++;
	}
	free(msg);
	return NULL;
}

static void
test_reload(void **state)
{
	struct clamav_config c;
	struct clamav *av = NULL;
	struct clamav_result r;
	char *error = NULL, *hdb, *msg;
	const char *novel = "a brand new threat, only in the update\n";
	gchar *md5;
	pthread_t th[3];
	struct scanner_arg args[3];
	atomic_bool stop = false;

	(void)state;
	config_default(&c);
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	assert_int_equal(clamav_reload_check(av, &error), 0);

	msg = message_with("new.bin", novel, strlen(novel));
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_CLEAN);

	for (int i = 0; i < 3; i++) {
		args[i] = (struct scanner_arg){av, &stop, 0, 0};
		pthread_create(&th[i], NULL, scanner_thread, &args[i]);
	}
	/* The update: a hash signature for the new file (what freshclam
	 * does, a new file in the directory). */
	md5 = g_compute_checksum_for_string(G_CHECKSUM_MD5, novel, -1);
	hdb = xasprintf("%s:%zu:Moat-Test.Novel\n", md5, strlen(novel));
	write_file(dbdir, "update.hdb", hdb);
	g_free(md5);
	free(hdb);
	assert_int_equal(clamav_reload_check(av, &error), 1);
	assert_int_equal(clamav_generation(av), 2);
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_INFECTED);
	assert_non_null(strstr(r.name, "Moat-Test.Novel"));

	/* A broken update: the reload fails, the old engine stays. */
	write_file(dbdir, "broken.ndb", "this is not a signature\n");
	assert_int_equal(clamav_reload_check(av, &error), -1);
	assert_non_null(error);
	free(error);
	error = NULL;
	assert_int_equal(clamav_generation(av), 2);
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_INFECTED);
	/* Reported once, not at every check. */
	assert_int_equal(clamav_reload_check(av, &error), 0);
	{
		char path[512];
		snprintf(path, sizeof(path), "%s/broken.ndb", dbdir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/update.hdb", dbdir);
		unlink(path);
	}
	assert_int_equal(clamav_reload_check(av, &error), 1);
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_CLEAN);

	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
		assert_true(args[i].scans >= 5);
	}
	free(msg);
	clamav_free(&av);
}

static void
test_background_reload(void **state)
{
	struct clamav_config c;
	struct clamav *av = NULL;
	char *error = NULL;

	(void)state;
	config_default(&c);
	c.reload_interval = 1;
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	write_file(dbdir, "bg.hdb",
		   "44d88612fea8a8f36de82e1278abb02f:68:Moat-Test.Bg\n");
	for (int i = 0; i < 100 && clamav_generation(av) < 2; i++)
		usleep(50000);
	assert_int_equal(clamav_generation(av), 2);
	clamav_free(&av);
	{
		char path[512];
		snprintf(path, sizeof(path), "%s/bg.hdb", dbdir);
		unlink(path);
	}
}

static void
test_errors(void **state)
{
	struct clamav_config c;
	struct clamav *av = NULL;
	char *error = NULL;
	char empty[] = "/tmp/test_clamav_empty_XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(empty));
	config_default(&c);
	c.database_dir = empty;
	assert_int_equal(clamav_new(&c, &av, &error), -1);
	assert_non_null(error);
	free(error);
	rmdir(empty);
	assert_false(clamav_dir_has_official_db(dbdir));

	config_default(&c);
	c.mode = CLAMAV_MODE_CLAMD;
	c.clamd_address = "";
	assert_int_equal(clamav_new(&c, &av, &error), -1);
	free(error);
	error = NULL;
	c.clamd_address = "/nonexistent/clamd.sock";
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	{
		struct clamav_result r;
		off_t off;
		size_t len;
		int fd = spool("Subject: x\r\n\r\nx\r\n", &off, &len);
		const char *err = NULL;

		assert_int_equal(clamav_scan(av, fd, off, len, 1000, &r, &err),
				 -1);
		assert_non_null(err);
		close(fd);
	}
	clamav_free(&av);
}

/* The log's description of a database directory: official files with
 * their version from the CVD header, local files by name, sorted. */
static void
test_dir_describe(void **state)
{
	char dir[] = "/tmp/test_clamav_describe_XXXXXX", path[256], hdr[512];
	char *desc;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	desc = clamav_dir_describe(dir);
	assert_string_equal(desc, "(no database files)");
	free(desc);
	/* A CVD header as freshclam's files start (512 bytes, padded). */
	memset(hdr, ' ', sizeof(hdr));
	memcpy(hdr, "ClamAV-VDB:01 Dec 2026 10-00 +0000:27100:2054:90:x:y:z:1",
	       56);
	snprintf(path, sizeof(path), "%s/daily.cld", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(hdr, 1, sizeof(hdr), f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/moat-test-eicar.ndb", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/freshclam.dat", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	desc = clamav_dir_describe(dir);
	assert_string_equal(
	    desc, "daily.cld v27100 (2054 sigs), moat-test-eicar.ndb");
	free(desc);
	assert_true(clamav_dir_has_official_db(dir));
	desc = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(desc), 0);
	free(desc);
}

/* A loopback TCP port free right now. */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
test_clamd(void **state)
{
	char dir[] = "/tmp/test_clamd_XXXXXX";
	char conf[600], sock[600], *text, *error = NULL, *msg;
	struct clamav_config c;
	struct clamav *av = NULL;
	struct clamav_result r;
	struct stat st;
	pid_t pid;
	int port;

	(void)state;
	if (access("/usr/sbin/clamd", X_OK) != 0) {
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/clamd.conf", dir);
	snprintf(sock, sizeof(sock), "%s/clamd.sock", dir);
	port = free_port();
	text = xasprintf("Foreground yes\nLocalSocket %s\nTCPSocket %d\n"
			 "TCPAddr 127.0.0.1\nDatabaseDirectory "
			 "%s\nLogFile %s/clamd.log\nPidFile %s/clamd.pid\n"
			 "TemporaryDirectory %s\n",
			 sock, port, dbdir, dir, dir, dir);
	write_file(dir, "clamd.conf", text);
	free(text);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/sbin/clamd", "clamd", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && stat(sock, &st) != 0; i++)
		usleep(50000);
	if (stat(sock, &st) != 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		fail_msg("clamd did not start");
	}
	memset(&c, 0, sizeof(c));
	c.mode = CLAMAV_MODE_CLAMD;
	c.clamd_address = sock;
	assert_int_equal(clamav_new(&c, &av, &error), 0);
	msg = message_with("eicar.com", EICAR, strlen(EICAR));
	assert_int_equal(scan_text(av, msg, &r), 0);
	assert_int_equal(r.status, CLAMAV_INFECTED);
	assert_non_null(strstr(r.name, "Moat-Test.EICAR"));
	free(msg);
	assert_int_equal(scan_text(av, "Subject: hi\r\n\r\nclean\r\n", &r), 0);
	assert_int_equal(r.status, CLAMAV_CLEAN);
	clamav_free(&av);
	/* The same clamd over TCP. */
	{
		char addr[64];

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		c.clamd_address = addr;
		/* clamd may open its TCP listener after the Unix one. */
		for (int i = 0; i < 100; i++) {
			struct sockaddr_in sin;
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			int ok;

			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_port = htons((uint16_t)port);
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
			close(fd);
			if (ok == 0)
				break;
			usleep(50000);
		}
		assert_int_equal(clamav_new(&c, &av, &error), 0);
		msg = message_with("eicar.com", EICAR, strlen(EICAR));
		assert_int_equal(scan_text(av, msg, &r), 0);
		assert_int_equal(r.status, CLAMAV_INFECTED);
		free(msg);
		clamav_free(&av);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	text = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(text), 0);
	free(text);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dbdir) == NULL)
		return -1;
	write_eicar_ndb(dbdir);
	return 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dbdir);
	int ret;

	(void)state;
	ret = system(cmd);
	free(cmd);
	return ret == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_background_reload),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_dir_describe),
	    cmocka_unit_test(test_clamd),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
