/*
 * dkim_verify: DKIM verification on libopendkim.
 *
 * Key records: libopendkim asks its DNS hooks for "s._domainkey.d" TXT and
 * parses a DNS wire-format reply. Moat replaces all of them: init hands back
 * a static token and close does nothing (the default close frees whatever
 * the service pointer is, which deadlocked when it was ours), start builds
 * the reply from the struct dkim_keys of the message being verified (found
 * through a thread-local pointer, as libopendkim runs the query on the
 * caller's thread inside dkim_eom()), wait reports a temporary failure for
 * names that were not looked up. Nothing here touches the network.
 *
 * Every signature is reported: pass, fail (bad signature or body hash,
 * expired), temperror (key lookup failed), permerror (malformed signature
 * or key, no key). Beyond max_signatures, further signatures are ignored by
 * the prescreen hook (a cost bound against messages stuffed with them).
 */
#include "filters/dkim_verify.h"

#include <opendkim/dkim.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

struct dkim_verifier {
	DKIM_LIB *lib;
	unsigned max_signatures;
	bool ed25519;
};

struct dkim_verify {
	struct dkim_verifier *verifier;
	const struct dkim_keys *keys;
	DKIM *dkim;
	DKIM_STAT status; /* first failure of header/eoh/body */
	bool eoh_done;
	bool nosig;
};

/* The one query in flight on this thread (libopendkim is synchronous). */
struct dkim_dns_query {
	bool tempfail;
	size_t len;
};

static __thread const struct dkim_keys *dkim_current_keys;
static __thread struct dkim_dns_query dkim_current_query;
static char dkim_dns_token; /* the "service handle" libopendkim keeps */

const char *
dkim_result_name(enum dkim_result result)
{
	switch (result) {
	case DKIM_RESULT_NONE:
		return "none";
	case DKIM_RESULT_PASS:
		return "pass";
	case DKIM_RESULT_FAIL:
		return "fail";
	case DKIM_RESULT_POLICY:
		return "policy";
	case DKIM_RESULT_NEUTRAL:
		return "neutral";
	case DKIM_RESULT_TEMPERROR:
		return "temperror";
	case DKIM_RESULT_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

/* --- DNS hooks --------------------------------------------------------- */

static int
moat_dkim_dns_init(void **srv)
{
	*srv = &dkim_dns_token;
	return 0;
}

static void
moat_dkim_dns_close(void *srv)
{
	(void)srv; /* nothing was opened */
}

struct wire {
	unsigned char *p;
	size_t len, cap;
	bool overflow;
};

static void
wire_put(struct wire *w, const void *data, size_t len)
{
	if (w->overflow || len > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, data, len);
	w->len += len;
}

static void
wire_u16(struct wire *w, unsigned v)
{
	unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};

	wire_put(w, b, 2);
}

static void
wire_name(struct wire *w, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);
		unsigned char c = (unsigned char)n;

		if (n == 0 || n > 63) {
			w->overflow = true;
			return;
		}
		wire_put(w, &c, 1);
		wire_put(w, name, n);
		name += n;
		if (*name == '.')
			name++;
	}
	wire_put(w, "", 1);
}

/* Several TXT records at a key name: keep only those that carry a key (p=),
 * as libopendkim refuses a multi-record answer outright. */
static bool
txt_is_key(const char *txt)
{
	return strstr(txt, "p=") != NULL;
}

static int
moat_dkim_dns_start(void *srv, int type, unsigned char *query,
		    unsigned char *buf, size_t buflen, void **qh)
{
	struct dkim_dns_query *q = &dkim_current_query;
	struct wire w = {buf, 0, buflen, false};
	char *const *txt = NULL;
	size_t count = 0, keep = 0;
	enum dkim_key_status status;

	(void)srv;
	memset(q, 0, sizeof(*q));
	*qh = q;
	if (type != 16 /* TXT */) {
		q->tempfail = true;
		return DKIM_DNS_SUCCESS;
	}
	status =
	    dkim_keys_get(dkim_current_keys, (const char *)query, &txt, &count);
	if (status == DKIM_KEY_TEMPFAIL) {
		q->tempfail = true;
		return DKIM_DNS_SUCCESS;
	}
	for (size_t i = 0; i < count; i++)
		keep += txt_is_key(txt[i]) ? 1 : 0;
	wire_u16(&w, 0x4d4f);
	wire_u16(&w, 0x8180 | (status == DKIM_KEY_NONE ? 3 : 0));
	wire_u16(&w, 1);
	wire_u16(&w, status == DKIM_KEY_FOUND
			 ? (unsigned)(keep > 0 ? keep : count)
			 : 0);
	wire_u16(&w, 0);
	wire_u16(&w, 0);
	wire_name(&w, (const char *)query);
	wire_u16(&w, 16);
	wire_u16(&w, 1);
	for (size_t i = 0; status == DKIM_KEY_FOUND && i < count; i++) {
		size_t n = strlen(txt[i]), chunks = n / 255 + 1;

		if (keep > 0 && !txt_is_key(txt[i]))
			continue;
		if (n + chunks > 65535) {
			w.overflow = true;
			break;
		}
		wire_u16(&w, 0xc00c);
		wire_u16(&w, 16);
		wire_u16(&w, 1);
		wire_u16(&w, 0);
		wire_u16(&w, 300);
		wire_u16(&w, (unsigned)(n + chunks));
		for (size_t off = 0; off <= n; off += 255) {
			size_t c = n - off > 255 ? 255 : n - off;
			unsigned char cb = (unsigned char)c;

			wire_put(&w, &cb, 1);
			wire_put(&w, txt[i] + off, c);
			if (c < 255)
				break;
		}
	}
	if (w.overflow)
		q->tempfail = true;
	q->len = w.len;
	return DKIM_DNS_SUCCESS;
}

static int
moat_dkim_dns_cancel(void *srv, void *qh)
{
	(void)srv;
	(void)qh;
	return DKIM_DNS_SUCCESS;
}

static int
moat_dkim_dns_waitreply(void *srv, void *qh, struct timeval *to, size_t *bytes,
			int *error, int *dnssec)
{
	struct dkim_dns_query *q = qh;

	(void)srv;
	(void)to;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	if (q->tempfail) {
		if (error != NULL)
			*error = 0;
		return DKIM_DNS_ERROR;
	}
	if (bytes != NULL)
		*bytes = q->len;
	return DKIM_DNS_SUCCESS;
}

/* --- library handle ---------------------------------------------------- */

static DKIM_CBSTAT
moat_dkim_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	struct dkim_verify *v = dkim_get_user_context(dkim);

	for (int i = 0; v != NULL && i < nsigs; i++)
		if ((unsigned)i >= v->verifier->max_signatures)
			dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

struct dkim_verifier *
dkim_verifier_new(const struct dkim_verify_options *opts, char **error_r)
{
	struct dkim_verifier *v = xcalloc(1, sizeof(*v));
	unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;
	unsigned int bits = opts->min_key_bits != 0 ? opts->min_key_bits : 1024;
	DKIM_STAT st;

	v->max_signatures =
	    opts->max_signatures != 0 ? opts->max_signatures : 10;
	v->lib = dkim_init(NULL, NULL);
	if (v->lib == NULL) {
		*error_r = xstrdup("dkim_init failed");
		free(v);
		return NULL;
	}
	dkim_dns_set_init(v->lib, moat_dkim_dns_init);
	dkim_dns_set_close(v->lib, moat_dkim_dns_close);
	dkim_dns_set_query_start(v->lib, moat_dkim_dns_start);
	dkim_dns_set_query_cancel(v->lib, moat_dkim_dns_cancel);
	dkim_dns_set_query_waitreply(v->lib, moat_dkim_dns_waitreply);
	(void)dkim_dns_set_query_service(v->lib, &dkim_dns_token);
	st = dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
			  sizeof(flags));
	if (st == DKIM_STAT_OK)
		st = dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS,
				  &bits, sizeof(bits));
	if (st == DKIM_STAT_OK && opts->fixed_time != 0) {
		uint64_t t = (uint64_t)opts->fixed_time;

		st = dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME,
				  &t, sizeof(t));
	}
	if (st == DKIM_STAT_OK)
		st = dkim_set_prescreen(v->lib, moat_dkim_prescreen);
	if (st != DKIM_STAT_OK) {
		*error_r =
		    xasprintf("libopendkim options: %s", dkim_getresultstr(st));
		dkim_close(v->lib);
		free(v);
		return NULL;
	}
	v->ed25519 = dkim_libfeature(v->lib, DKIM_FEATURE_ED25519);
	return v;
}

void
dkim_verifier_free(struct dkim_verifier **verifierp)
{
	struct dkim_verifier *v = *verifierp;

	if (v == NULL)
		return;
	dkim_close(v->lib);
	x_free(verifierp);
}

bool
dkim_verifier_has_ed25519(const struct dkim_verifier *verifier)
{
	return verifier->ed25519;
}

/* --- one message -------------------------------------------------------- */

struct dkim_verify *
dkim_verify_begin(struct dkim_verifier *verifier, const struct dkim_keys *keys,
		  const char *id)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	DKIM_STAT st = DKIM_STAT_OK;

	v->verifier = verifier;
	v->keys = keys;
	v->dkim =
	    dkim_verify(verifier->lib, (const unsigned char *)id, NULL, &st);
	if (v->dkim == NULL)
		v->status = st != DKIM_STAT_OK ? st : DKIM_STAT_NORESOURCE;
	else
		(void)dkim_set_user_context(v->dkim, v);
	return v;
}

void
dkim_verify_header(struct dkim_verify *v, const char *field, size_t len)
{
	DKIM_STAT st;

	if (v->dkim == NULL || v->eoh_done)
		return;
	dkim_current_keys = v->keys;
	/* A malformed field only spoils itself: libopendkim reports it and
	 * goes on with the others. */
	st = dkim_header(v->dkim, (unsigned char *)field, len);
	dkim_current_keys = NULL;
	(void)st;
}

static void
dkim_verify_eoh(struct dkim_verify *v)
{
	DKIM_STAT st;

	if (v->eoh_done || v->dkim == NULL)
		return;
	v->eoh_done = true;
	dkim_current_keys = v->keys;
	st = dkim_eoh(v->dkim);
	dkim_current_keys = NULL;
	if (st == DKIM_STAT_NOSIG)
		v->nosig = true;
}

void
dkim_verify_body(struct dkim_verify *v, const char *data, size_t len)
{
	dkim_verify_eoh(v);
	if (v->dkim == NULL || v->nosig || len == 0)
		return;
	dkim_current_keys = v->keys;
	(void)dkim_body(v->dkim, (unsigned char *)data, len);
	dkim_current_keys = NULL;
}

static enum dkim_result
sig_result(DKIM_SIGINFO *sig, const char **reason_r)
{
	unsigned int flags = dkim_sig_getflags(sig);
	int bh = dkim_sig_getbh(sig);
	int err = dkim_sig_geterror(sig);

	*reason_r = NULL;
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MATCH)
		return DKIM_RESULT_PASS;
	if (bh == DKIM_SIGBH_MISMATCH &&
	    (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG)) {
		*reason_r = "body hash did not verify";
		return DKIM_RESULT_FAIL;
	}
	switch (err) {
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_BADSIG:
		*reason_r = "signature did not verify";
		return DKIM_RESULT_FAIL;
	case DKIM_SIGERROR_EXPIRED:
		*reason_r = "signature expired";
		return DKIM_RESULT_FAIL;
	case DKIM_SIGERROR_FUTURE:
		*reason_r = "signature in the future";
		return DKIM_RESULT_FAIL;
	case DKIM_SIGERROR_KEYFAIL:
		*reason_r = "key lookup failed";
		return DKIM_RESULT_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
		*reason_r = "no key";
		return DKIM_RESULT_PERMERROR;
	case DKIM_SIGERROR_KEYTOOSMALL:
		*reason_r = "key too small";
		return DKIM_RESULT_POLICY;
	default:
		*reason_r = dkim_sig_geterrorstr(err);
		if (*reason_r == NULL)
			*reason_r = "invalid signature";
		return DKIM_RESULT_PERMERROR;
	}
}

static char *
tag_or_empty(DKIM_SIGINFO *sig, const char *tag)
{
	unsigned char *v =
	    dkim_sig_gettagvalue(sig, false, (unsigned char *)tag);

	return xstrdup(v != NULL ? (const char *)v : "");
}

static void
fill_sig(DKIM *dkim, DKIM_SIGINFO *sig, struct dkim_sig_result *r)
{
	unsigned char *v;
	char *b;
	size_t o = 0;
	ssize_t msglen = -1, canonlen = -1, signlen = -1;

	r->result = sig_result(sig, &r->reason);
	r->domain = tag_or_empty(sig, "d");
	for (char *p = r->domain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	r->selector = tag_or_empty(sig, "s");
	r->algorithm = tag_or_empty(sig, "a");
	v = dkim_sig_gettagvalue(sig, false, (unsigned char *)"i");
	r->identity = v != NULL ? xstrdup((const char *)v) : NULL;
	b = tag_or_empty(sig, "b");
	for (size_t i = 0; b[i] != '\0' && o < 8; i++)
		if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
			b[o++] = b[i];
	b[o] = '\0';
	r->b_prefix = b;
	if (dkim_sig_getkeysize(sig, &r->key_bits) != DKIM_STAT_OK)
		r->key_bits = 0;
	r->body_length =
	    dkim_sig_gettagvalue(sig, false, (unsigned char *)"l") != NULL;
	if (r->body_length &&
	    dkim_sig_getcanonlen(dkim, sig, &msglen, &canonlen, &signlen) ==
		DKIM_STAT_OK &&
	    signlen >= 0 && msglen > signlen)
		r->body_unsigned = true;
	(void)canonlen;
}

int
dkim_verify_end(struct dkim_verify **vp, struct dkim_verify_result *result_r,
		const char **error_r)
{
	struct dkim_verify *v = *vp;
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0, rc = 0;
	bool testkey = false;

	result_r->count = 0;
	result_r->sigs = NULL;
	if (v->dkim == NULL) {
		*error_r = "cannot start libopendkim verification";
		x_free(vp);
		return -1;
	}
	dkim_verify_eoh(v);
	if (!v->nosig) {
		dkim_current_keys = v->keys;
		(void)dkim_eom(v->dkim, &testkey);
		dkim_current_keys = NULL;
		if (dkim_getsiglist(v->dkim, &sigs, &nsigs) != DKIM_STAT_OK)
			nsigs = 0;
	}
	if (nsigs > 0) {
		result_r->sigs =
		    xcalloc((size_t)nsigs, sizeof(*result_r->sigs));
		for (int i = 0; i < nsigs; i++) {
			if ((dkim_sig_getflags(sigs[i]) &
			     DKIM_SIGFLAG_IGNORE) != 0)
				continue;
			fill_sig(v->dkim, sigs[i],
				 &result_r->sigs[result_r->count++]);
		}
	}
	dkim_free(v->dkim);
	x_free(vp);
	return rc;
}

int
dkim_verify_message(struct dkim_verifier *verifier,
		    const struct dkim_keys *keys, const char *id,
		    const char *msg, size_t len,
		    const struct mail_headers *headers,
		    struct dkim_verify_result *result_r, const char **error_r)
{
	struct dkim_verify *v = dkim_verify_begin(verifier, keys, id);

	for (size_t i = 0; i < headers->count; i++)
		dkim_verify_header(v, headers->items[i].field,
				   headers->items[i].len);
	if (headers->body_offset < len)
		dkim_verify_body(v, msg + headers->body_offset,
				 len - headers->body_offset);
	return dkim_verify_end(&v, result_r, error_r);
}

void
dkim_verify_result_clear(struct dkim_verify_result *result)
{
	for (size_t i = 0; i < result->count; i++) {
		struct dkim_sig_result *r = &result->sigs[i];

		free(r->domain);
		free(r->selector);
		free(r->identity);
		free(r->algorithm);
		free(r->b_prefix);
	}
	x_free(&result->sigs);
	result->count = 0;
}
