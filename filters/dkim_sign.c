/*
 * dkim_sign: builds a DKIM-Signature header field with Moat's own
 * canonicalisation (dkim_canon) and OpenSSL's EVP signers, so RSA and
 * Ed25519 take the same path and nothing leaks per signature. The signed
 * header set is the configured list intersected with the fields present
 * (each instance once, bottom-up), plus one extra "from" so that a From
 * added later breaks the signature. The key store is a directory of PEM
 * files written 0600 by `moatctl dkim genkey`; smtpd only reads it.
 */
#include "filters/dkim_sign.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

void
dkim_sign_key_free(struct dkim_sign_key **keyp)
{
	struct dkim_sign_key *key = *keyp;

	if (key == NULL)
		return;
	free(key->domain);
	free(key->selector);
	EVP_PKEY_free(key->pkey);
	x_free(keyp);
}

/* Appends "name:" for each instance of each configured header present. */
static void
signed_header_list(const struct mail_headers *headers, const char *list,
		   struct buf *out)
{
	const char *p = list;

	while (*p != '\0') {
		const char *end = strchr(p, ':');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		size_t count = 0;
		bool seen = false;

		/* a name listed twice is signed once per instance anyway */
		for (const char *q = list; q < p && !seen;) {
			const char *qe = strchr(q, ':');
			size_t qn = qe != NULL ? (size_t)(qe - q) : strlen(q);

			seen = qn == n && strncasecmp(q, p, n) == 0;
			q += qn + (qe != NULL ? 1 : 0);
		}
		for (size_t i = 0; i < headers->count && !seen; i++)
			if (headers->items[i].name_len == n &&
			    strncasecmp(headers->items[i].name, p, n) == 0)
				count++;
		if (!seen && n == 4 && strncasecmp(p, "from", 4) == 0)
			count++; /* over-sign */
		for (size_t i = 0; i < count; i++) {
			if (out->len > 0)
				buf_append_char(out, ':');
			for (size_t j = 0; j < n; j++)
				buf_append_char(
				    out, (char)tolower((unsigned char)p[j]));
		}
		p += n;
		if (*p == ':')
			p++;
	}
}

/* Appends text folded at 72 columns with CRLF TAB (only where the text
 * allows: b= values may be split anywhere, h= at colons). */
static void
append_folded(struct buf *out, size_t *col, const char *text, bool any)
{
	size_t n = strlen(text);

	if (!any) {
		if (*col + n > 76 && *col > 1) {
			buf_append_str(out, "\r\n\t");
			*col = 1;
		} else if (*col > 0) {
			buf_append_char(out, ' ');
			(*col)++;
		}
		buf_append_str(out, text);
		*col += n;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (*col >= 76) {
			buf_append_str(out, "\r\n\t");
			*col = 1;
		}
		buf_append_char(out, text[i]);
		(*col)++;
	}
}

int
dkim_sign_message(const struct dkim_sign_key *key,
		  const struct dkim_sign_options *opts, const char *msg,
		  size_t len, const struct mail_headers *headers,
		  char **field_r, const char **error_r)
{
	struct dkim_body_hash *bh;
	char bh64[45], *sig = NULL, tmp[64];
	struct buf hlist, field, data;
	size_t col;
	time_t now = opts->now != 0 ? opts->now : time(NULL);

	bh = dkim_body_hash_new(opts->body_c14n, -1);
	if (headers->body_offset < len)
		dkim_body_hash_update(bh, msg + headers->body_offset,
				      len - headers->body_offset);
	dkim_body_hash_final(&bh, bh64);

	buf_init(&hlist);
	signed_header_list(headers,
			   opts->headers != NULL ? opts->headers
						 : DKIM_SIGN_DEFAULT_HEADERS,
			   &hlist);

	buf_init(&field);
	buf_append_str(&field, "DKIM-Signature:");
	col = 15;
	append_folded(&field, &col, "v=1;", false);
	snprintf(tmp, sizeof(tmp), "a=%s;",
		 key->ed25519 ? "ed25519-sha256" : "rsa-sha256");
	append_folded(&field, &col, tmp, false);
	snprintf(tmp, sizeof(tmp), "c=%s/%s;",
		 dkim_c14n_name(opts->header_c14n),
		 dkim_c14n_name(opts->body_c14n));
	append_folded(&field, &col, tmp, false);
	{
		char *d = xasprintf("d=%s;", key->domain);
		char *s = xasprintf("s=%s;", key->selector);

		append_folded(&field, &col, d, false);
		append_folded(&field, &col, s, false);
		free(d);
		free(s);
	}
	snprintf(tmp, sizeof(tmp), "t=%lld;", (long long)now);
	append_folded(&field, &col, tmp, false);
	{
		/* h= folded between names */
		const char *p = buf_cstr(&hlist);
		bool first = true;

		while (*p != '\0') {
			const char *end = strchr(p, ':');
			size_t n =
			    end != NULL ? (size_t)(end - p) + 1 : strlen(p);
			char *part =
			    xasprintf("%s%.*s%s", first ? "h=" : "", (int)n, p,
				      end == NULL ? ";" : "");

			if (first) {
				append_folded(&field, &col, part, false);
			} else {
				if (col + strlen(part) > 76) {
					buf_append_str(&field, "\r\n\t");
					col = 1;
				}
				buf_append_str(&field, part);
				col += strlen(part);
			}
			first = false;
			free(part);
			p += n;
		}
	}
	snprintf(tmp, sizeof(tmp), "bh=%s;", bh64);
	append_folded(&field, &col, tmp, false);
	append_folded(&field, &col, "b=", false);

	/* hash: selected headers, then this field without b= value/CRLF */
	buf_init(&data);
	dkim_canon_selected(opts->header_c14n, headers, buf_cstr(&hlist), NULL,
			    &data);
	dkim_canon_header(opts->header_c14n, field.data, field.len, false,
			  &data);
	if (dkim_sign_data(key->pkey, data.data, data.len, &sig) < 0) {
		*error_r = "signing failed";
		buf_free(&data);
		buf_free(&field);
		buf_free(&hlist);
		return -1;
	}
	append_folded(&field, &col, sig, true);
	free(sig);
	buf_free(&data);
	buf_free(&hlist);
	*field_r = buf_detach(&field);
	return 0;
}

/* --- key store ----------------------------------------------------------- */

bool
dkim_keystore_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 253 || name[0] == '.' || name[0] == '-' ||
	    strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '.' && name[i] != '_')
			return false;
	return true;
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static int
write_file_0600(const char *path, const char *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = -1;

	if (fd >= 0) {
		ssize_t w = write(fd, data, len);

		if (w == (ssize_t)len && fsync(fd) == 0 && close(fd) == 0 &&
		    rename(tmp, path) == 0)
			rc = 0;
		else
			(void)close(fd);
	}
	if (rc < 0)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

int
dkim_keystore_genkey(const char *dir, const char *domain_in,
		     const char *selector, bool ed25519, char **error_r)
{
	char *domain, *ddir = NULL, *path = NULL, *active = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem;
	long pem_len;
	int rc = -1;

	if (!dkim_keystore_name_ok(domain_in) ||
	    !dkim_keystore_name_ok(selector)) {
		*error_r = xstrdup("bad domain or selector name");
		return -1;
	}
	domain = lower_dup(domain_in);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("mkdir %s: %s", dir, strerror(errno));
		goto out;
	}
	ddir = xasprintf("%s/%s", dir, domain);
	if (mkdir(ddir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("mkdir %s: %s", ddir, strerror(errno));
		goto out;
	}
	pkey = ed25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
		       : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	bio = BIO_new(BIO_s_mem());
	if (pkey == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) !=
		1) {
		*error_r = xstrdup("key generation failed");
		goto out;
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	path = xasprintf("%s/%s.pem", ddir, selector);
	active = xasprintf("%s/active", ddir);
	if (write_file_0600(path, pem, (size_t)pem_len) < 0 ||
	    write_file_0600(active, selector, strlen(selector)) < 0) {
		*error_r =
		    xasprintf("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	free(domain);
	free(ddir);
	free(path);
	free(active);
	return rc;
}

static char *
read_small_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (f == NULL)
		return NULL;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

static int
load_key_file(const char *dir, const char *domain, const char *selector,
	      struct dkim_sign_key **key_r, char **error_r)
{
	char *path = xasprintf("%s/%s/%s.pem", dir, domain, selector);
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;
	struct dkim_sign_key *key;

	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL || (EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA &&
			     EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)) {
		*error_r = xasprintf("%s: not an RSA or Ed25519 key", path);
		EVP_PKEY_free(pkey);
		free(path);
		return -1;
	}
	free(path);
	key = xcalloc(1, sizeof(*key));
	key->domain = xstrdup(domain);
	key->selector = xstrdup(selector);
	key->pkey = pkey;
	key->ed25519 = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519;
	*key_r = key;
	return 0;
}

int
dkim_keystore_load(const char *dir, const char *domain_in,
		   struct dkim_sign_key **key_r, char **error_r)
{
	char *domain, *active_path, *selector;
	int rc;

	*key_r = NULL;
	if (!dkim_keystore_name_ok(domain_in))
		return 0;
	domain = lower_dup(domain_in);
	active_path = xasprintf("%s/%s/active", dir, domain);
	selector = read_small_file(active_path);
	free(active_path);
	if (selector == NULL || !dkim_keystore_name_ok(selector)) {
		free(selector);
		free(domain);
		return 0;
	}
	rc = load_key_file(dir, domain, selector, key_r, error_r) == 0 ? 1 : -1;
	free(selector);
	free(domain);
	return rc;
}

char *
dkim_key_record(const struct dkim_sign_key *key)
{
	unsigned char *der = NULL, raw[32];
	size_t rawlen = sizeof(raw);
	char *b64, *rec;
	int n;

	if (key->ed25519) {
		if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &rawlen) != 1)
			return NULL;
		b64 = dkim_base64(raw, rawlen);
	} else {
		n = i2d_PUBKEY(key->pkey, &der);
		if (n <= 0)
			return NULL;
		b64 = dkim_base64(der, (size_t)n);
		OPENSSL_free(der);
	}
	rec = xasprintf("v=DKIM1; k=%s; p=%s", key->ed25519 ? "ed25519" : "rsa",
			b64);
	free(b64);
	return rec;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
dkim_keystore_list(const char *dir, char **text_r, char **error_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **domains = NULL;
	size_t count = 0;
	struct buf out;

	buf_init(&out);
	if (d == NULL) {
		if (errno == ENOENT) {
			*text_r = buf_detach(&out);
			return 0;
		}
		*error_r = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !dkim_keystore_name_ok(de->d_name))
			continue;
		domains = xreallocarray(domains, count + 1, sizeof(*domains));
		domains[count++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(domains, count, sizeof(*domains), name_cmp);
	for (size_t i = 0; i < count; i++) {
		char *ddir = xasprintf("%s/%s", dir, domains[i]);
		char *apath = xasprintf("%s/active", ddir);
		char *active = read_small_file(apath);
		DIR *dd = opendir(ddir);

		while (dd != NULL && (de = readdir(dd)) != NULL) {
			size_t n = strlen(de->d_name);
			char *sel;
			struct dkim_sign_key *key = NULL;
			char *err = NULL;

			if (n < 5 || strcmp(de->d_name + n - 4, ".pem") != 0)
				continue;
			sel = xstrndup(de->d_name, n - 4);
			if (load_key_file(dir, domains[i], sel, &key, &err) ==
			    0) {
				buf_printf(
				    &out, "%s %s %s%s\n", domains[i], sel,
				    key->ed25519 ? "ed25519" : "rsa",
				    active != NULL && strcmp(active, sel) == 0
					? " active"
					: "");
				dkim_sign_key_free(&key);
			}
			free(err);
			free(sel);
		}
		if (dd != NULL)
			closedir(dd);
		free(active);
		free(apath);
		free(ddir);
		free(domains[i]);
	}
	free(domains);
	*text_r = buf_detach(&out);
	return 0;
}

int
dkim_keystore_dns_record(const char *dir, const char *domain, char **text_r,
			 char **error_r)
{
	struct dkim_sign_key *key = NULL;
	char *rec;
	struct buf out;
	int rc = dkim_keystore_load(dir, domain, &key, error_r);

	if (rc == 0)
		*error_r = xasprintf("no DKIM key for %s", domain);
	if (rc <= 0)
		return -1;
	rec = dkim_key_record(key);
	if (rec == NULL) {
		*error_r = xstrdup("cannot encode the public key");
		dkim_sign_key_free(&key);
		return -1;
	}
	buf_init(&out);
	buf_printf(&out, "%s._domainkey.%s. IN TXT (", key->selector,
		   key->domain);
	for (size_t off = 0, n = strlen(rec); off < n; off += 250)
		buf_printf(&out, " \"%.250s\"", rec + off);
	buf_append_str(&out, " )\n");
	free(rec);
	dkim_sign_key_free(&key);
	*text_r = buf_detach(&out);
	return 0;
}
