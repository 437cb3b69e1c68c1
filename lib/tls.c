/*
 * tls: OpenSSL 3 set-up shared by every listener. The self-signed
 * certificate of a fresh install is made here (EC P-256, SAN = host name,
 * ten years), the key written 0600 via a temporary file, fsync and rename,
 * so a crash never leaves half a key behind.
 */
#include "lib/tls.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"

static char *
tls_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char detail[256];

	if (e == 0)
		return xasprintf("%s", what);
	ERR_error_string_n(e, detail, sizeof(detail));
	ERR_clear_error();
	return xasprintf("%s: %s", what, detail);
}

/* Writes PEM produced by emit() to path atomically with mode. */
static int
write_pem(const char *path, mode_t mode, int (*emit)(FILE *f, void *object),
	  void *object, char **error_r)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	if (fd < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	ok = emit(f, object) && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0) {
		*error_r = xasprintf("%s: cannot write", path);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

static int
emit_key(FILE *f, void *object)
{
	return PEM_write_PrivateKey(f, object, NULL, NULL, 0, NULL, NULL);
}

static int
emit_cert(FILE *f, void *object)
{
	return PEM_write_X509(f, object);
}

static X509 *
make_certificate(EVP_PKEY *key, const char *hostname)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char san[300];
	unsigned char serial[16];
	BIGNUM *bn;

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		BN_free(bn);
		goto fail;
	}
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				   (const unsigned char *)"Moat self-signed",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext == NULL)
		goto fail;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

int
tls_ensure_self_signed(const char *cert_path, const char *key_path,
		       const char *hostname, char **error_r)
{
	struct stat st;
	bool have_cert = stat(cert_path, &st) == 0;
	bool have_key = stat(key_path, &st) == 0;
	EVP_PKEY *key;
	X509 *x;
	int ret = -1;

	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key) {
		*error_r = xasprintf("%s and %s: only one of them exists",
				     cert_path, key_path);
		return -1;
	}
	key = EVP_EC_gen("P-256");
	if (key == NULL) {
		*error_r = tls_error("EC key generation");
		return -1;
	}
	x = make_certificate(key, hostname);
	if (x == NULL) {
		*error_r = tls_error("self-signed certificate");
		EVP_PKEY_free(key);
		return -1;
	}
	if (write_pem(key_path, 0600, emit_key, key, error_r) == 0 &&
	    write_pem(cert_path, 0644, emit_cert, x, error_r) == 0)
		ret = 1;
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

SSL_CTX *
tls_server_ctx_new(const char *cert_path, const char *key_path, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*error_r = tls_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		char *what = xasprintf("certificate %s", cert_path);
		*error_r = tls_error(what);
		free(what);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		char *what = xasprintf("private key %s", key_path);
		*error_r = tls_error(what);
		free(what);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *
tls_client_ctx_new(int verify, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*error_r = tls_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			*error_r = tls_error("CA store");
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

const char *
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s:%s", SSL_get_version(ssl),
		 SSL_get_cipher_name(ssl));
	return out;
}
