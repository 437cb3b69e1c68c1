/*
 * bayes_tokenize: what the Bayes classifier sees of a message, after
 * SpamAssassin's and Bogofilter's tokenisers. Every token is a short byte
 * string with a prefix saying where it came from, so "free" in the Subject
 * and "free" in the body are different evidence:
 *
 *   body        words of 3 to 15 bytes, lower-cased, edge punctuation
 *               trimmed; a longer word is "sk:" + its first 7 bytes;
 *               "2:" + each pair of neighbouring words, and "C:" + a word
 *               as written when it has capitals; CJK text (no spaces
 *               between words) also as "J:" + each overlapping pair of
 *               characters; the words of hidden HTML elements
 *               (filters/html_hidden.h) apart, as "I*:" + word, as
 *               SpamAssassin does: spam hides ordinary words there
 *   headers     "N:name" for every field present (the set of fields is a
 *               mailer's fingerprint); the words of each field's value
 *               under a per-field prefix (addresses and host names kept
 *               whole up to 40 bytes, plus "@domain" of each address);
 *               Received: only host names, IP addresses (and their /24)
 *               and plain words, never ids and times; Message-Id and Date
 *               by their shape ("<9a.9a@a.a>"), which tells one mail
 *               program from another; X-Spam-* and X-Moat-* are never
 *               read (a sender must not vote on its own verdict), nor are
 *               signatures; mbox and mail-client bookkeeping fields
 *               (X-Status, X-Keywords...) are not even counted present
 *   HTML        "HT:tag" and "HT:tag.attr" for the markup of the decoded
 *               text parts, plus the value of a few presentational
 *               attributes (colour, font face and size)
 *   URLs        "U:host" and each parent domain, "U*:ip" for a numeric
 *               host
 *   sender      "SR:" + the sender key (rules/spam_sender.h): the From
 *               address with the network of the relay that handed the
 *               message in; its counts are also the learned sender
 *               reputation (check_sender_learned_ham())
 *
 * Only hashes leave this file (bayes_tokens), so no message text reaches
 * the token database. Everything here reads untrusted bytes: each token
 * is built in a fixed buffer with its length checked, and the number of
 * tokens per message is capped by bayes_tokens_add().
 */
#include "rules/bayes.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rules/spam_sender.h"
#include <strings.h>

#define BAYES_MIN_LEN	   3
#define BAYES_MAX_LEN	   15
#define BAYES_HDR_MAX_LEN  40
#define BAYES_TOKEN_BUF	   128
#define BAYES_PREFIX_MAX   32
#define BAYES_SHAPE_MAX	   48
#define BAYES_HTML_TAGS	   2000
#define BAYES_HTML_TAG_LEN 1024
#define BAYES_CJK_PAIRS	   200

/* Bytes that belong to a word: letters, digits, UTF-8, and a few marks
 * that carry meaning in spam ($ ! ' - . @ _ , :). */
static bool
bayes_word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || c == '$' || c == '!' || c == '\'' ||
	       c == '-' || c == '.' || c == '@' || c == '_' || c == ',' ||
	       c == ':';
}

static bool
bayes_edge_punct(unsigned char c)
{
	return c == '.' || c == ',' || c == '\'' || c == '-' || c == ':' ||
	       c == '!';
}

enum bayes_word_mode {
	BAYES_WORDS_BODY,     /* long words become sk: */
	BAYES_WORDS_HEADER,   /* long words kept up to 40 bytes, @domain */
	BAYES_WORDS_RECEIVED, /* hosts, addresses and plain words only */
};

/* Received: keeps a word with a dot (host, IP address) or of letters and
 * dashes only; drops queue ids, times, dates in digits. */
static bool
bayes_received_keep(const char *w, size_t len)
{
	bool dot = memchr(w, '.', len) != NULL;
	size_t i;

	if (dot)
		return true;
	for (i = 0; i < len; i++)
		if (!isalpha((unsigned char)w[i]) && w[i] != '-')
			return false;
	return true;
}

static bool
bayes_is_ipv4(const char *w, size_t len)
{
	size_t i, dots = 0;

	for (i = 0; i < len; i++) {
		if (w[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)w[i]))
			return false;
	}
	return dots == 3;
}

/* Emits prefix + the (lower-cased) bytes w[0..len). */
static void
bayes_emit(const char *prefix, size_t plen, const char *w, size_t len,
	   bayes_token_fn *fn, void *context)
{
	char tok[BAYES_TOKEN_BUF];
	size_t k;

	if (plen + len > sizeof(tok))
		len = sizeof(tok) - plen;
	memcpy(tok, prefix, plen);
	for (k = 0; k < len; k++)
		tok[plen + k] = (char)tolower((unsigned char)w[k]);
	fn(context, tok, plen + len);
}

/*
 * The body's extra evidence for one word w (after prev, prevlen 0 at the
 * start): "2:prev w", the pair of words (as SpamBayes and Rspamd's OSB
 * do: phrases say more than words), and "C:" + w as written when it has a
 * capital letter (SHOUTING and Odd Capitals are spam's style). Both
 * raised cross-validated recall on the training half.
 */
static void
bayes_body_extra(const char *prev, size_t prevlen, const char *w, size_t wlen,
		 bayes_token_fn *fn, void *context)
{
	char tok[2 + 2 * BAYES_MAX_LEN + 1];
	size_t k;

	if (prevlen > 0) {
		memcpy(tok, "2:", 2);
		for (k = 0; k < prevlen; k++)
			tok[2 + k] = (char)tolower((unsigned char)prev[k]);
		tok[2 + prevlen] = ' ';
		for (k = 0; k < wlen; k++)
			tok[3 + prevlen + k] =
			    (char)tolower((unsigned char)w[k]);
		fn(context, tok, 3 + prevlen + wlen);
	}
	for (k = 0; k < wlen; k++)
		if (isupper((unsigned char)w[k]))
			break;
	if (k < wlen) {
		memcpy(tok, "C:", 2);
		memcpy(tok + 2, w, wlen);
		fn(context, tok, 2 + wlen);
	}
}

/* A UTF-8 code point of CJK scripts: kana, Han, Hangul (written without
 * spaces between words). */
static bool
bayes_cjk(uint32_t cp)
{
	return (cp >= 0x3040 && cp <= 0x30ff) ||
	       (cp >= 0x3400 && cp <= 0x4dbf) ||
	       (cp >= 0x4e00 && cp <= 0x9fff) ||
	       (cp >= 0xac00 && cp <= 0xd7af) ||
	       (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff66 && cp <= 0xff9f);
}

/* Some byte of w starts a 3-byte UTF-8 sequence (where CJK lives). */
static bool
bayes_has_lead3(const char *w, size_t wlen)
{
	for (size_t k = 0; k < wlen; k++)
		if (((unsigned char)w[k] & 0xf0) == 0xe0)
			return true;
	return false;
}

/* The code point of the 3-byte UTF-8 sequence at w (CJK is there), or 0. */
static uint32_t
bayes_utf8_3(const unsigned char *w, size_t left)
{
	if (left < 3 || (w[0] & 0xf0) != 0xe0 || (w[1] & 0xc0) != 0x80 ||
	    (w[2] & 0xc0) != 0x80)
		return 0;
	return (uint32_t)(w[0] & 0x0f) << 12 | (uint32_t)(w[1] & 0x3f) << 6 |
	       (w[2] & 0x3f);
}

/*
 * CJK text has no spaces between words, so a "word" here is a whole
 * phrase, cut to sk: and 7 bytes. Its evidence is in overlapping pairs of
 * characters instead ("J:" + two characters), as Bogofilter and Rspamd
 * read it: at most BAYES_CJK_PAIRS pairs per run.
 */
static void
bayes_cjk_pairs(const char *prefix, size_t plen, const char *w, size_t wlen,
		bayes_token_fn *fn, void *context)
{
	const unsigned char *p = (const unsigned char *)w;
	char tok[BAYES_PREFIX_MAX + 2 + 6];
	size_t i = 0, pairs = 0;

	memcpy(tok, prefix, plen);
	memcpy(tok + plen, "J:", 2);
	while (i + 6 <= wlen && pairs < BAYES_CJK_PAIRS) {
		uint32_t a = bayes_utf8_3(p + i, wlen - i);

		if (a == 0 || !bayes_cjk(a)) {
			i++;
			continue;
		}
		if (bayes_cjk(bayes_utf8_3(p + i + 3, wlen - i - 3))) {
			memcpy(tok + plen + 2, p + i, 6);
			fn(context, tok, plen + 8);
			pairs++;
		}
		i += 3;
	}
}

static void
bayes_words(const char *text, size_t len, const char *prefix,
	    enum bayes_word_mode mode, bayes_token_fn *fn, void *context)
{
	char pre[BAYES_PREFIX_MAX + 4], prev[BAYES_MAX_LEN];
	size_t plen = strlen(prefix), i = 0, prevlen = 0;
	bool body = mode == BAYES_WORDS_BODY && plen == 0;
	size_t max =
	    mode == BAYES_WORDS_BODY ? BAYES_MAX_LEN : BAYES_HDR_MAX_LEN;

	if (plen > BAYES_PREFIX_MAX)
		plen = BAYES_PREFIX_MAX;
	memcpy(pre, prefix, plen);
	while (i < len) {
		size_t start, end, wlen;
		const char *w, *at;

		while (i < len && !bayes_word_byte((unsigned char)text[i]))
			i++;
		start = i;
		while (i < len && bayes_word_byte((unsigned char)text[i]))
			i++;
		end = i;
		while (start < end &&
		       bayes_edge_punct((unsigned char)text[start]))
			start++;
		while (end > start &&
		       bayes_edge_punct((unsigned char)text[end - 1]) &&
		       text[end - 1] != '!')
			end--;
		w = text + start;
		wlen = end - start;
		if (wlen < BAYES_MIN_LEN)
			continue;
		if (mode == BAYES_WORDS_RECEIVED) {
			if (!bayes_received_keep(w, wlen))
				continue;
			if (bayes_is_ipv4(w, wlen)) {
				/* the /24 as well as the address */
				const char *last = w + wlen;

				while (last > w && last[-1] != '.')
					last--;
				bayes_emit(pre, plen, w, (size_t)(last - w - 1),
					   fn, context);
			}
		}
		if (mode == BAYES_WORDS_BODY && bayes_has_lead3(w, wlen))
			bayes_cjk_pairs(pre, plen, w, wlen, fn, context);
		if (wlen > max) {
			if (mode == BAYES_WORDS_BODY) {
				memcpy(pre + plen, "sk:", 3);
				bayes_emit(pre, plen + 3, w, 7, fn, context);
				prevlen = 0;
				continue;
			}
			wlen = max;
		}
		bayes_emit(pre, plen, w, wlen, fn, context);
		if (body) {
			bayes_body_extra(prev, prevlen, w, wlen, fn, context);
			memcpy(prev, w, wlen);
			prevlen = wlen;
		}
		if (mode == BAYES_WORDS_HEADER &&
		    (at = memchr(w, '@', end - start)) != NULL &&
		    (size_t)(w + (end - start) - at) > 3) {
			/* the address's domain on its own */
			size_t dlen = (size_t)(w + (end - start) - at);

			bayes_emit(pre, plen, at, dlen < max ? dlen : max, fn,
				   context);
		}
	}
}

void
bayes_tokenize_text(const char *text, size_t len, const char *prefix,
		    bayes_token_fn *fn, void *context)
{
	bayes_words(text, len, prefix, BAYES_WORDS_BODY, fn, context);
}

/* prefix + the shape of s: digits as 9, letters as a or A, other bytes
 * kept, runs of the same class collapsed. */
static void
bayes_shape(const char *prefix, const char *s, bayes_token_fn *fn,
	    void *context)
{
	char tok[BAYES_TOKEN_BUF];
	size_t plen = strlen(prefix), o;

	if (plen > BAYES_PREFIX_MAX)
		plen = BAYES_PREFIX_MAX;
	memcpy(tok, prefix, plen);
	o = plen;
	for (; *s != '\0' && o < BAYES_PREFIX_MAX + BAYES_SHAPE_MAX; s++) {
		unsigned char c = (unsigned char)*s;
		char k = isdigit(c)   ? '9'
			 : islower(c) ? 'a'
			 : isupper(c) ? 'A'
			 : c >= 0x80  ? 'u'
				      : (char)c;

		if (k == ' ' || k == '\t')
			k = '_';
		if (o == plen || tok[o - 1] != k)
			tok[o++] = k;
	}
	fn(context, tok, o);
}

static const struct {
	const char *name;
	const char *prefix;
} bayes_header_prefixes[] = {
    {"subject", "S:"},	   {"from", "F:"},
    {"reply-to", "R:"},	   {"to", "T:"},
    {"cc", "T:"},	   {"x-mailer", "XM:"},
    {"user-agent", "XM:"}, {"content-type", "CT:"},
    {"list-id", "LI:"},	   {"return-path", "RP:"},
    {"sender", "SE:"},
};

/* Fields whose value says nothing about the mail: signatures (random
 * bytes), sizes. */
static const char *const bayes_header_values_skipped[] = {
    "dkim-signature",
    "domainkey-signature",
    "x-google-dkim-signature",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
    "content-length",
    "lines",
    "delivered-to",
};

/* Fields not read at all, not even their presence: what a mail client or
 * mbox file adds after delivery (a corpus collected from mailboxes has
 * them on one class more than the other; mail arriving over SMTP never
 * does, so they would only teach the classifier the corpus). */
static const char *const bayes_header_ignored[] = {
    "x-uid",	   "status",	       "x-status",	    "x-keywords",
    "x-evolution", "x-flags",	       "x-imapbase",	    "x-imap",
    "x-uidl",	   "x-mozilla-status", "x-mozilla-status2", "x-mozilla-keys",
};

void
bayes_tokenize_header(const char *name, const char *value, bayes_token_fn *fn,
		      void *context)
{
	char lname[BAYES_PREFIX_MAX], pre[BAYES_PREFIX_MAX + 8];
	const char *prefix = NULL;
	size_t n, k;

	for (n = 0; name[n] != '\0' && n < sizeof(lname) - 1; n++)
		lname[n] = (char)tolower((unsigned char)name[n]);
	lname[n] = '\0';
	if (strncmp(lname, "x-spam-", 7) == 0 ||
	    strncmp(lname, "x-moat-", 7) == 0)
		return;
	for (k = 0;
	     k < sizeof(bayes_header_ignored) / sizeof(bayes_header_ignored[0]);
	     k++)
		if (strcmp(lname, bayes_header_ignored[k]) == 0)
			return;
	snprintf(pre, sizeof(pre), "N:%s", lname);
	fn(context, pre, strlen(pre));
	if (value == NULL)
		return;
	for (k = 0; k < sizeof(bayes_header_values_skipped) /
			    sizeof(bayes_header_values_skipped[0]);
	     k++)
		if (strcmp(lname, bayes_header_values_skipped[k]) == 0)
			return;
	if (strcmp(lname, "received") == 0) {
		bayes_words(value, strlen(value), "Rc:", BAYES_WORDS_RECEIVED,
			    fn, context);
		return;
	}
	if (strcmp(lname, "message-id") == 0) {
		const char *at = strrchr(value, '@');

		bayes_shape("MI*:", value, fn, context);
		if (at != NULL)
			bayes_words(at + 1, strlen(at + 1),
				    "MI:", BAYES_WORDS_HEADER, fn, context);
		return;
	}
	if (strcmp(lname, "date") == 0) {
		bayes_shape("D*:", value, fn, context);
		return;
	}
	for (k = 0; k < sizeof(bayes_header_prefixes) /
			    sizeof(bayes_header_prefixes[0]);
	     k++)
		if (strcmp(lname, bayes_header_prefixes[k].name) == 0)
			prefix = bayes_header_prefixes[k].prefix;
	/* Other fields count by their presence only: their words (list
	 * footers, relay software, vendor X- fields) made the classifier
	 * worse in cross-validation on the training half. */
	if (prefix == NULL)
		return;
	if (strcmp(prefix, "S:") == 0)
		bayes_words(value, strlen(value), prefix, BAYES_WORDS_BODY, fn,
			    context);
	else
		bayes_words(value, strlen(value), prefix, BAYES_WORDS_HEADER,
			    fn, context);
}

/* Attributes whose value is worth a token of its own. */
static bool
bayes_html_value_attr(const char *a, size_t len)
{
	static const char *const attrs[] = {"color", "bgcolor", "face", "size",
					    "text"};
	size_t i;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (strlen(attrs[i]) == len &&
		    strncasecmp(attrs[i], a, len) == 0)
			return true;
	return false;
}

void
bayes_tokenize_html(const char *raw, size_t len, bayes_token_fn *fn,
		    void *context)
{
	unsigned int tags = 0;
	size_t i = 0;

	while (i < len && tags < BAYES_HTML_TAGS) {
		char tok[BAYES_TOKEN_BUF], tag[16];
		size_t tlen = 0, end, lim;
		const char *p = memchr(raw + i, '<', len - i);

		if (p == NULL)
			break;
		i = (size_t)(p - raw) + 1;
		while (i < len && tlen < sizeof(tag) - 1 &&
		       isalnum((unsigned char)raw[i]))
			tag[tlen++] = (char)tolower((unsigned char)raw[i++]);
		tag[tlen] = '\0';
		if (tlen == 0 || !isalpha((unsigned char)tag[0]) || i >= len ||
		    !(isspace((unsigned char)raw[i]) || raw[i] == '>' ||
		      raw[i] == '/'))
			continue;
		tags++;
		snprintf(tok, sizeof(tok), "HT:%s", tag);
		fn(context, tok, strlen(tok));
		/* attributes up to '>' (bounded) */
		lim =
		    len - i < BAYES_HTML_TAG_LEN ? len : i + BAYES_HTML_TAG_LEN;
		end = i;
		while (end < lim && raw[end] != '>')
			end++;
		while (i < end) {
			size_t a = i, alen, v, vlen = 0;
			char q = 0;

			while (a < end && !isalpha((unsigned char)raw[a]))
				a++;
			i = a;
			while (i < end && (isalnum((unsigned char)raw[i]) ||
					   raw[i] == '-'))
				i++;
			alen = i - a;
			if (alen == 0)
				break;
			if (alen > 20)
				alen = 20;
			while (i < end && isspace((unsigned char)raw[i]))
				i++;
			if (i >= end || raw[i] != '=') {
				snprintf(tok, sizeof(tok), "HT:%s.%.*s", tag,
					 (int)alen, raw + a);
				bayes_emit("HT:", 3, tok + 3, strlen(tok) - 3,
					   fn, context);
				continue;
			}
			i++;
			while (i < end && isspace((unsigned char)raw[i]))
				i++;
			if (i < end && (raw[i] == '"' || raw[i] == '\''))
				q = raw[i++];
			v = i;
			while (i < end &&
			       (q != 0 ? raw[i] != q
				       : !isspace((unsigned char)raw[i])))
				i++;
			vlen = i - v;
			if (i < end && q != 0)
				i++;
			if (bayes_html_value_attr(raw + a, alen) && vlen > 0)
				snprintf(tok, sizeof(tok), "HT:%s.%.*s=%.*s",
					 tag, (int)alen, raw + a,
					 (int)(vlen < 20 ? vlen : 20), raw + v);
			else
				snprintf(tok, sizeof(tok), "HT:%s.%.*s", tag,
					 (int)alen, raw + a);
			bayes_emit("HT:", 3, tok + 3, strlen(tok) - 3, fn,
				   context);
		}
		i = end;
	}
}

void
bayes_tokenize_url(const char *url, bayes_token_fn *fn, void *context)
{
	const char *p = strstr(url, "://"), *end, *at;
	char tok[BAYES_TOKEN_BUF];
	size_t n;

	p = p != NULL ? p + 3 : url;
	end = p;
	while (*end != '\0' && *end != '/' && *end != ':' && *end != '?' &&
	       *end != '#')
		end++;
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL)
		p = at + 1;
	if (p < end && bayes_is_ipv4(p, (size_t)(end - p)))
		fn(context, "U*:ip", 5);
	while (p < end) {
		const char *dot;

		n = (size_t)(end - p);
		if (n > BAYES_TOKEN_BUF - 3)
			n = BAYES_TOKEN_BUF - 3;
		memcpy(tok, "U:", 2);
		for (size_t k = 0; k < n; k++)
			tok[2 + k] = (char)tolower((unsigned char)p[k]);
		fn(context, tok, n + 2);
		dot = memchr(p, '.', (size_t)(end - p));
		if (dot == NULL ||
		    memchr(dot + 1, '.', (size_t)(end - dot - 1)) == NULL)
			break;
		p = dot + 1;
	}
}

static void
bayes_add_cb(void *context, const char *token, size_t len)
{
	bayes_tokens_add(context, token, len);
}

size_t
bayes_sender_token(const struct spam_msg *msg, char *out, size_t outsz)
{
	char key[SPAM_SENDER_KEY_MAX];
	int n;

	if (!spam_sender_key(msg, key, sizeof(key)))
		return 0;
	n = snprintf(out, outsz, "SR:%s", key);
	return n > 0 && (size_t)n < outsz ? (size_t)n : 0;
}

void
bayes_tokenize(const struct spam_msg *msg, struct bayes_tokens *tokens)
{
	char sender[BAYES_SENDER_TOKEN_MAX];
	size_t i, len;

	for (i = 0; i < msg->header_count; i++)
		bayes_tokenize_header(msg->headers[i].name,
				      msg->headers[i].value, bayes_add_cb,
				      tokens);
	if (msg->body != NULL)
		bayes_tokenize_text(msg->body, msg->body_len, "", bayes_add_cb,
				    tokens);
	if (msg->hidden_body != NULL)
		bayes_tokenize_text(msg->hidden_body, msg->hidden_body_len,
				    "I*:", bayes_add_cb, tokens);
	if (msg->rawbody != NULL)
		bayes_tokenize_html(msg->rawbody, msg->rawbody_len,
				    bayes_add_cb, tokens);
	for (i = 0; i < msg->uri_count; i++)
		bayes_tokenize_url(msg->uris[i], bayes_add_cb, tokens);
	if ((len = bayes_sender_token(msg, sender, sizeof(sender))) > 0)
		bayes_tokens_add(tokens, sender, len);
	bayes_tokens_finish(tokens);
}
