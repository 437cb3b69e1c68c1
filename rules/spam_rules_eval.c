/*
 * spam_rules_eval: runs a compiled rule set over one message view. Order:
 * GTUBE, header rules, the three text areas (one Hyperscan pass each when a
 * prefilter database exists, PCRE2 confirming candidates), URI rules, eval
 * built-ins, then metas in dependency order. Each rule's value is its hit
 * count (1 unless tflags multiple); hits with a non-zero score, except
 * sub-rules named __*, make the result. A scratch holds every per-call
 * buffer so evaluation allocates little and threads never share state.
 *
 * Documented eval: built-ins: check_bayes(lo, hi), check_for_missing_to_
 * header(), subject_is_all_caps(), check_body_length(n),
 * check_for_missing_header(name), check_gtube(),
 * check_sender_learned_ham(n); those on header structure are in
 * spam_evals.c.
 */
#include "rules/spam_rules_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"

#define SPAM_MATCH_LIMIT 200000

struct spam_scratch_impl {
	struct spam_scratch pub;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
};

struct spam_scratch *
spam_scratch_new(const struct spam_rules *rules)
{
	struct spam_scratch_impl *impl = xcalloc(1, sizeof(*impl));
	struct spam_scratch *s = &impl->pub;

	s->rules = rules;
	s->md = pcre2_match_data_create(1, NULL);
	impl->mctx = pcre2_match_context_create(NULL);
	impl->jit = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	if (s->md == NULL || impl->mctx == NULL || impl->jit == NULL)
		abort(); /* allocation failure, as xmalloc */
	pcre2_set_match_limit(impl->mctx, SPAM_MATCH_LIMIT);
	pcre2_jit_stack_assign(impl->mctx, NULL, impl->jit);
	s->values = xcalloc(rules->count + 1, sizeof(*s->values));
	s->cand = xcalloc(rules->count + 1, 1);
	buf_init(&s->tmp);
#ifdef MOAT_HAVE_HYPERSCAN
	for (size_t d = 0; d < rules->hs_db_count; d++)
		if (hs_alloc_scratch(rules->hs_dbs[d].db, &s->hs) != HS_SUCCESS)
			abort();
#endif
	return s;
}

void
spam_scratch_free(struct spam_scratch **scratch)
{
	struct spam_scratch_impl *impl = (struct spam_scratch_impl *)*scratch;

	if (impl == NULL)
		return;
	pcre2_match_data_free(impl->pub.md);
	pcre2_match_context_free(impl->mctx);
	pcre2_jit_stack_free(impl->jit);
	free(impl->pub.values);
	free(impl->pub.cand);
	buf_free(&impl->pub.tmp);
#ifdef MOAT_HAVE_HYPERSCAN
	if (impl->pub.hs != NULL)
		hs_free_scratch(impl->pub.hs);
#endif
	free(impl);
	*scratch = NULL;
}

/* Counts matches of rule's regex in text (at most 1 unless multiple). */
static unsigned int
spam_match_count(struct spam_scratch *s, const struct spam_rule *rule,
		 const char *text, size_t len)
{
	struct spam_scratch_impl *impl = (struct spam_scratch_impl *)s;
	unsigned int limit =
	    (rule->tflags & SPAM_TF_MULTIPLE) ? rule->maxhits : 1;
	unsigned int count = 0;
	PCRE2_SIZE start = 0, *ov;

	if (text == NULL)
		text = "", len = 0;
	while (count < limit && start <= len) {
		int rc = pcre2_match(rule->re, (PCRE2_SPTR)text, len, start, 0,
				     s->md, impl->mctx);

		if (rc < 0)
			break;
		count++;
		ov = pcre2_get_ovector_pointer(s->md);
		start = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
	}
	return count;
}

static bool
spam_header_is(const struct spam_header *h, const char *name)
{
	return strcasecmp(h->name, name) == 0;
}

/* Appends the address (:addr) or display name (:name) of one header. */
static void
spam_header_mod(struct buf *out, const char *v, enum spam_header_mod mod)
{
	const char *lt = strchr(v, '<'), *gt, *at, *s, *e;

	if (mod == SPAM_HDR_ADDR) {
		if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
			buf_append(out, lt + 1, (size_t)(gt - lt - 1));
			return;
		}
		at = strchr(v, '@');
		if (at == NULL) {
			s = v;
			while (*s != '\0' && isspace((unsigned char)*s))
				s++;
			e = s;
			while (*e != '\0' && !isspace((unsigned char)*e) &&
			       *e != ',' && *e != '(')
				e++;
			buf_append(out, s, (size_t)(e - s));
			return;
		}
		for (s = at; s > v && !isspace((unsigned char)s[-1]) &&
			     s[-1] != ',' && s[-1] != '(' && s[-1] != ':';
		     s--)
			;
		for (e = at; *e != '\0' && !isspace((unsigned char)*e) &&
			     *e != ',' && *e != ')';
		     e++)
			;
		buf_append(out, s, (size_t)(e - s));
		return;
	}
	/* :name: the display name, or the comment of "addr (Name)". */
	if (lt != NULL) {
		s = v;
		e = lt;
	} else if ((s = strchr(v, '(')) != NULL) {
		s++;
		e = strchr(s, ')');
		if (e == NULL)
			e = s + strlen(s);
	} else {
		return;
	}
	while (s < e && (isspace((unsigned char)*s) || *s == '"'))
		s++;
	while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == '"'))
		e--;
	buf_append(out, s, (size_t)(e - s));
}

/* Gathers a header rule's subject text into s->tmp; false when unset. */
static bool
spam_header_text(struct spam_scratch *s, const struct spam_msg *msg,
		 const char *name, enum spam_header_mod mod, bool raw)
{
	static const char *const tocc[] = {"To", "Cc", NULL};
	static const char *const msgid[] = {"Message-Id", "Resent-Message-Id",
					    "X-Message-Id", NULL};
	const char *const *names = NULL;
	const char *single[2] = {name, NULL};
	bool found = false, all = strcmp(name, "ALL") == 0;
	size_t i, k;

	buf_reset(&s->tmp);
	if (strcmp(name, "ToCc") == 0)
		names = tocc;
	else if (strcmp(name, "MESSAGEID") == 0)
		names = msgid;
	else
		names = single;
	for (i = 0; i < msg->header_count; i++) {
		const struct spam_header *h = &msg->headers[i];
		const char *v;

		if (!all) {
			for (k = 0; names[k] != NULL; k++)
				if (spam_header_is(h, names[k]))
					break;
			if (names[k] == NULL)
				continue;
		}
		v = ((raw || mod == SPAM_HDR_RAW) && h->raw != NULL) ? h->raw
								     : h->value;
		if (v == NULL)
			v = "";
		if (found && !all)
			buf_append_char(&s->tmp, '\n');
		found = true;
		if (all) {
			buf_append_str(&s->tmp, h->name);
			buf_append_str(&s->tmp, ": ");
			buf_append_str(&s->tmp, v);
			buf_append_char(&s->tmp, '\n');
		} else if (mod == SPAM_HDR_ADDR || mod == SPAM_HDR_NAME) {
			spam_header_mod(&s->tmp, v, mod);
		} else {
			buf_append_str(&s->tmp, v);
		}
	}
	return found;
}

static const char *
spam_header_first(const struct spam_msg *msg, const char *name)
{
	size_t i;

	for (i = 0; i < msg->header_count; i++)
		if (spam_header_is(&msg->headers[i], name))
			return msg->headers[i].value != NULL
				   ? msg->headers[i].value
				   : "";
	return NULL;
}

static double
spam_eval_header_rule(struct spam_scratch *s, const struct spam_rule *rule,
		      const struct spam_msg *msg)
{
	bool found =
	    spam_header_text(s, msg, rule->header, rule->hmod, rule->hraw);
	unsigned int n;

	if (rule->exists)
		return found ? 1 : 0;
	if (!found) {
		if (rule->if_unset == NULL) {
			/* An absent header matches nothing; !~ is true. */
			return rule->negate ? 1 : 0;
		}
		buf_reset(&s->tmp);
		buf_append_str(&s->tmp, rule->if_unset);
	}
	n = spam_match_count(s, rule, s->tmp.data, s->tmp.len);
	if (rule->negate)
		return n == 0 ? 1 : 0;
	return n;
}

static bool
spam_subject_all_caps(const struct spam_msg *msg)
{
	const char *subj = spam_header_first(msg, "Subject"), *p;
	size_t letters = 0, len;
	bool space = false;

	if (subj == NULL)
		return false;
	while (isspace((unsigned char)*subj))
		subj++;
	for (;;) {
		static const char *const pfx[] = {
		    "re:", "fwd:", "fw:", "aw:", "sv:", NULL};
		size_t k;
		bool again = false;

		for (k = 0; pfx[k] != NULL; k++) {
			if (strncasecmp(subj, pfx[k], strlen(pfx[k])) == 0) {
				subj += strlen(pfx[k]);
				while (isspace((unsigned char)*subj))
					subj++;
				again = true;
			}
		}
		if (!again)
			break;
	}
	len = strlen(subj);
	while (len > 0 && isspace((unsigned char)subj[len - 1]))
		len--;
	if (len < 10)
		return false;
	for (p = subj; p < subj + len; p++) {
		if (isspace((unsigned char)*p))
			space = true;
		if (isalpha((unsigned char)*p)) {
			letters++;
			if (islower((unsigned char)*p))
				return false;
		}
	}
	return space && letters > 0;
}

static double
spam_eval_builtin(const struct spam_rules *rules, const struct spam_rule *rule,
		  const struct spam_msg *msg, bool gtube)
{
	switch (rule->eval) {
	case SPAM_EVAL_WL_FROM:
	case SPAM_EVAL_BL_FROM:
	case SPAM_EVAL_WL_SPF:
	case SPAM_EVAL_DEF_WL_SPF:
	case SPAM_EVAL_WL_DKIM:
	case SPAM_EVAL_DEF_WL_DKIM:
		return spam_wlbl_eval(rules, rule->eval, msg) ? 1 : 0;
	case SPAM_EVAL_BAYES:
		if (msg->bayes < 0)
			return 0;
		return msg->bayes >= rule->eval_num[0] &&
			       (msg->bayes < rule->eval_num[1] ||
				(rule->eval_num[1] >= 1.0 && msg->bayes <= 1.0))
			   ? 1
			   : 0;
	case SPAM_EVAL_MISSING_TO:
		return spam_header_first(msg, "To") == NULL &&
			       spam_header_first(msg, "Apparently-To") == NULL
			   ? 1
			   : 0;
	case SPAM_EVAL_SUBJECT_ALL_CAPS:
		return spam_subject_all_caps(msg) ? 1 : 0;
	case SPAM_EVAL_BODY_LENGTH:
		return (double)msg->rawbody_len < rule->eval_num[0] ? 1 : 0;
	case SPAM_EVAL_MISSING_HEADER:
		return rule->eval_str != NULL &&
			       spam_header_first(msg, rule->eval_str) == NULL
			   ? 1
			   : 0;
	case SPAM_EVAL_GTUBE:
		return gtube ? 1 : 0;
	case SPAM_EVAL_HTML_TAG_EXISTS:
		return spam_eval_html_tag_exists(msg, rule->eval_str) ? 1 : 0;
	case SPAM_EVAL_HTML_TEST:
		return spam_eval_html_test(msg, rule->eval_str) ? 1 : 0;
	case SPAM_EVAL_OUTLOOK_MSGID:
		return spam_eval_outlook_msgid(msg) ? 1 : 0;
	case SPAM_EVAL_SHIFTED_DATE:
		return spam_eval_shifted_date(msg, rule->eval_num[0],
					      rule->eval_num[1])
			   ? 1
			   : 0;
	case SPAM_EVAL_HTML_IMAGE_ONLY:
		return spam_eval_html_image_only(msg, rule->eval_num[0],
						 rule->eval_num[1])
			   ? 1
			   : 0;
	case SPAM_EVAL_MIME_HTML:
		return msg->html_part_count > 0 ? 1 : 0;
	case SPAM_EVAL_MIME_HTML_ONLY:
		return msg->html_part_count > 0 && msg->text_part_count == 0
			   ? 1
			   : 0;
	case SPAM_EVAL_SIMILAR_RECIPS:
		return spam_eval_similar_recipients(msg, rule->eval_num[0],
						    rule->eval_num[1])
			   ? 1
			   : 0;
	case SPAM_EVAL_SORTED_RECIPS:
		return spam_eval_sorted_recipients(msg) ? 1 : 0;
	case SPAM_EVAL_FROMNAME_SPOOF:
		return spam_eval_fromname_spoof(msg) ? 1 : 0;
	case SPAM_EVAL_FROM_HOMOGRAPH:
		return msg->from_homograph ? 1 : 0;
	case SPAM_EVAL_URI_HOMOGRAPH:
		return msg->uri_homograph ? 1 : 0;
	case SPAM_EVAL_URI_TEXT_MISMATCH:
		return spam_eval_uri_text_mismatch(msg) ? 1 : 0;
	case SPAM_EVAL_TEXT_OBFUSCATION:
		/* at least min signs (1) */
		return (double)msg->text_obfuscations >=
			       (rule->eval_num[0] >= 1 ? rule->eval_num[0] : 1)
			   ? 1
			   : 0;
	case SPAM_EVAL_SENDER_HAM:
		/* learned as ham at least min times (1), never as spam */
		return msg->sender_learned && msg->sender_spam == 0 &&
			       (double)msg->sender_ham >=
				   (rule->eval_num[0] >= 1 ? rule->eval_num[0]
							   : 1)
			   ? 1
			   : 0;
	case SPAM_EVAL_ILLEGAL_CHARS:
		return spam_eval_illegal_chars(msg, rule->eval_str,
					       rule->eval_num[0],
					       rule->eval_num[1])
			   ? 1
			   : 0;
	default:
		return 0;
	}
}

#ifdef MOAT_HAVE_HYPERSCAN
struct spam_hs_ctx {
	struct spam_scratch *s;
	const int *map;
	size_t count;
};

static int
spam_hs_on_match(unsigned int id, unsigned long long from,
		 unsigned long long to, unsigned int flags, void *context)
{
	struct spam_hs_ctx *ctx = context;

	(void)from;
	(void)to;
	(void)flags;
	if (id < ctx->count) /* a loaded database is checked, yet... */
		ctx->s->cand[ctx->map[id]] = 1;
	return 0;
}
#endif

static void
spam_eval_area(const struct spam_rules *rules, struct spam_scratch *s, int area,
	       const char *text, size_t len)
{
	size_t i;
	bool prefiltered = false;

	if (text == NULL)
		text = "", len = 0;
#ifdef MOAT_HAVE_HYPERSCAN
	if (rules->stats.hyperscan && len <= 0xffffffffu) {
		size_t d;

		for (i = 0; i < rules->area_count[area]; i++)
			s->cand[rules->area_rules[area][i]] = 0;
		prefiltered = true;
		for (d = 0; d < rules->hs_db_count; d++) {
			const struct spam_hs_db *db = &rules->hs_dbs[d];
			struct spam_hs_ctx ctx = {s, db->map, db->count};

			if (db->area != area)
				continue;
			if (hs_scan(db->db, text, (unsigned int)len, 0, s->hs,
				    spam_hs_on_match, &ctx) != HS_SUCCESS)
				prefiltered = false;
		}
	}
#endif
	for (i = 0; i < rules->area_count[area]; i++) {
		int idx = rules->area_rules[area][i];
		const struct spam_rule *rule = &rules->rules[idx];

		if (prefiltered && rule->hs_id >= 0 && !s->cand[idx])
			continue;
		s->values[idx] = spam_match_count(s, rule, text, len);
	}
}

static int
spam_hit_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spam_hit *)a)->name,
		      ((const struct spam_hit *)b)->name);
}

void
spam_result_add(struct spam_result *result, const char *name, double score)
{
	result->hits = xreallocarray(result->hits, result->count + 1,
				     sizeof(*result->hits));
	result->hits[result->count].name = xstrdup(name);
	result->hits[result->count].score = score;
	result->hits[result->count].count = 1;
	result->count++;
	result->score += score;
}

void
spam_result_free(struct spam_result *result)
{
	size_t i;

	for (i = 0; i < result->count; i++)
		free(result->hits[i].name);
	free(result->hits);
	memset(result, 0, sizeof(*result));
}

int
spam_rules_eval(const struct spam_rules *rules, struct spam_scratch *s,
		const struct spam_msg *msg, struct spam_result *result_r,
		const char **error_r)
{
	size_t i, u;
	bool gtube;

	memset(result_r, 0, sizeof(*result_r));
	if (s->rules != rules || !rules->compiled) {
		*error_r = "scratch of another rule set, or set not compiled";
		return -1;
	}
	memset(s->values, 0, (rules->count + 1) * sizeof(*s->values));
	gtube =
	    (msg->full != NULL && memmem(msg->full, msg->full_len, SPAM_GTUBE,
					 sizeof(SPAM_GTUBE) - 1) != NULL) ||
	    (msg->body != NULL && memmem(msg->body, msg->body_len, SPAM_GTUBE,
					 sizeof(SPAM_GTUBE) - 1) != NULL) ||
	    (msg->rawbody != NULL &&
	     memmem(msg->rawbody, msg->rawbody_len, SPAM_GTUBE,
		    sizeof(SPAM_GTUBE) - 1) != NULL);

	for (i = 0; i < rules->count; i++) {
		const struct spam_rule *rule = &rules->rules[i];

		if (rule->disabled)
			continue;
		if (rule->type == SPAM_RULE_HEADER)
			s->values[i] = spam_eval_header_rule(s, rule, msg);
		else if (rule->type == SPAM_RULE_EVAL)
			s->values[i] =
			    spam_eval_builtin(rules, rule, msg, gtube);
		else if (rule->type == SPAM_RULE_URI) {
			unsigned int n = 0;

			for (u = 0; u < msg->uri_count; u++) {
				n += spam_match_count(s, rule, msg->uris[u],
						      strlen(msg->uris[u]));
				if (n > 0 && !(rule->tflags & SPAM_TF_MULTIPLE))
					break;
			}
			s->values[i] = n;
		}
	}
	spam_eval_area(rules, s, SPAM_AREA_BODY, msg->body, msg->body_len);
	spam_eval_area(rules, s, SPAM_AREA_RAWBODY, msg->rawbody,
		       msg->rawbody_len);
	spam_eval_area(rules, s, SPAM_AREA_FULL, msg->full, msg->full_len);
	for (i = 0; i < rules->meta_order_count; i++) {
		int idx = rules->meta_order[i];

		s->values[idx] =
		    spam_meta_eval(rules->rules[idx].meta, s->values);
	}

	if (gtube)
		spam_result_add(result_r, "GTUBE", SPAM_GTUBE_SCORE);
	result_r->gtube = gtube;
	for (i = 0; i < rules->count; i++) {
		const struct spam_rule *rule = &rules->rules[i];
		double score, v = s->values[i];

		if (v == 0 || rule->disabled ||
		    strncmp(rule->name, "__", 2) == 0 ||
		    strcmp(rule->name, "GTUBE") == 0)
			continue;
		score = rule->scores[rules->score_set];
		if (score == 0)
			continue;
		if ((rule->tflags & SPAM_TF_MULTIPLE) && v > 1 &&
		    rule->type != SPAM_RULE_META)
			score *= v;
		spam_result_add(result_r, rule->name, score);
		result_r->hits[result_r->count - 1].count =
		    v >= 1 && v < 1e6 ? (unsigned int)v : 1;
	}
	if (result_r->count > 1)
		qsort(result_r->hits, result_r->count, sizeof(*result_r->hits),
		      spam_hit_cmp);
	return 0;
}
