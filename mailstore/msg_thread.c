/*
 * msg_thread: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3) over
 * the keys of msg_sort.h, producing the IMAP thread list.
 *
 * REFERENCES follows the RFC's steps: containers for every message id
 * seen (a glib hash table from id to container), parent links from each
 * References chain without loops, the message under its last reference,
 * dummies pruned, roots merged by base subject, then every set of siblings
 * sorted by sent date (a dummy sorts by its first child; ties by sequence
 * order). Containers live in one array and link by index, so nothing is
 * freed one by one.
 */
#include "mailstore/msg_sort.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"

#define NONE SIZE_MAX

struct container {
	const struct msg_sort_keys *msg; /* NULL: a dummy */
	size_t index;			 /* of msg in keys[] */
	size_t parent, first_child, next;
};

struct forest {
	struct container *c;
	size_t count, cap;
};

static size_t
forest_add(struct forest *f, const struct msg_sort_keys *msg, size_t index)
{
	if (f->count == f->cap) {
		f->cap = f->cap == 0 ? 64 : f->cap * 2;
		f->c = xreallocarray(f->c, f->cap, sizeof(*f->c));
	}
	f->c[f->count].msg = msg;
	f->c[f->count].index = index;
	f->c[f->count].parent = NONE;
	f->c[f->count].first_child = NONE;
	f->c[f->count].next = NONE;
	return f->count++;
}

/* Makes room for extra more containers, so that pointers into f->c stay
 * valid while they are added. */
static void
forest_reserve(struct forest *f, size_t extra)
{
	if (f->cap - f->count >= extra)
		return;
	f->cap = f->count + extra;
	f->c = xreallocarray(f->c, f->cap, sizeof(*f->c));
}

static void
unlink_child(struct forest *f, size_t child)
{
	size_t parent = f->c[child].parent, *pp;

	if (parent == NONE)
		return;
	for (pp = &f->c[parent].first_child; *pp != NONE; pp = &f->c[*pp].next)
		if (*pp == child) {
			*pp = f->c[child].next;
			break;
		}
	f->c[child].parent = NONE;
	f->c[child].next = NONE;
}

/* Appends child as the last child of parent. */
static void
link_child(struct forest *f, size_t parent, size_t child)
{
	size_t *pp;

	unlink_child(f, child);
	for (pp = &f->c[parent].first_child; *pp != NONE; pp = &f->c[*pp].next)
		;
	*pp = child;
	f->c[child].parent = parent;
	f->c[child].next = NONE;
}

/* Is a an ancestor of b (or b itself)? */
static bool
is_ancestor(const struct forest *f, size_t a, size_t b)
{
	for (size_t p = b; p != NONE; p = f->c[p].parent)
		if (p == a)
			return true;
	return false;
}

/* ---- sorting siblings by sent date ---- */

static const struct msg_sort_keys *
sort_msg(const struct forest *f, size_t c)
{
	/* A dummy sorts as its first child. */
	while (f->c[c].msg == NULL && f->c[c].first_child != NONE)
		c = f->c[c].first_child;
	return f->c[c].msg;
}

static size_t
sort_index(const struct forest *f, size_t c)
{
	while (f->c[c].msg == NULL && f->c[c].first_child != NONE)
		c = f->c[c].first_child;
	return f->c[c].index;
}

struct date_ctx {
	const struct forest *f;
};

static int
date_cmp(const void *pa, const void *pb, void *arg)
{
	const struct forest *f = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	const struct msg_sort_keys *ka = sort_msg(f, a), *kb = sort_msg(f, b);
	size_t ia = sort_index(f, a), ib = sort_index(f, b);

	if (ka != NULL && kb != NULL && ka->date != kb->date)
		return ka->date < kb->date ? -1 : 1;
	return ia < ib ? -1 : ia > ib ? 1 : 0;
}

/* Sorts a sibling list (given by its head) and returns the new head. */
static size_t
sort_siblings(struct forest *f, size_t head)
{
	size_t n = 0, *v, c;

	for (c = head; c != NONE; c = f->c[c].next)
		n++;
	if (n < 2)
		return head;
	v = xcalloc(n, sizeof(*v));
	n = 0;
	for (c = head; c != NONE; c = f->c[c].next)
		v[n++] = c;
	qsort_r(v, n, sizeof(*v), date_cmp, f);
	for (size_t i = 0; i + 1 < n; i++)
		f->c[v[i]].next = v[i + 1];
	f->c[v[n - 1]].next = NONE;
	head = v[0];
	free(v);
	return head;
}

/* Children before parents ("youngest siblings first"), iteratively. */
static void
sort_tree(struct forest *f, size_t root)
{
	size_t *stack = NULL, top = 0, cap = 0;
	size_t *post = NULL, npost = 0, pcap = 0;

	/* Collect a pre-order, then sort in reverse of it. */
	stack = xreallocarray(stack, cap = 64, sizeof(*stack));
	stack[top++] = root;
	while (top > 0) {
		size_t c = stack[--top];
		if (npost == pcap)
			post = xreallocarray(post, pcap = pcap * 2 + 64,
					     sizeof(*post));
		post[npost++] = c;
		for (size_t k = f->c[c].first_child; k != NONE;
		     k = f->c[k].next) {
			if (top == cap)
				stack = xreallocarray(stack, cap *= 2,
						      sizeof(*stack));
			stack[top++] = k;
		}
	}
	while (npost > 0) {
		size_t c = post[--npost];
		f->c[c].first_child = sort_siblings(f, f->c[c].first_child);
	}
	free(stack);
	free(post);
}

/* ---- output ---- */

/* thread-members / thread-nested for the subtree at c, iteratively for
 * chains (a long reply chain is a long loop, not deep recursion). */
static void
emit_members(const struct forest *f, size_t c, struct buf *out,
	     unsigned int depth)
{
	bool need_space = false;

	for (;;) {
		size_t kids = 0;

		if (f->c[c].msg != NULL) {
			if (need_space)
				buf_append_char(out, ' ');
			buf_printf(out, "%u", f->c[c].msg->id);
			need_space = true;
		}
		for (size_t k = f->c[c].first_child; k != NONE;
		     k = f->c[k].next)
			kids++;
		if (kids == 0)
			return;
		if (kids == 1 && f->c[c].msg != NULL) {
			c = f->c[c].first_child;
			continue;
		}
		if (need_space)
			buf_append_char(out, ' ');
		for (size_t k = f->c[c].first_child; k != NONE;
		     k = f->c[k].next) {
			buf_append_char(out, '(');
			if (depth < 10000)
				emit_members(f, k, out, depth + 1);
			else /* pathological nesting: the branch is cut */
				buf_printf(out, "%u",
					   sort_msg(f, k) != NULL
					       ? sort_msg(f, k)->id
					       : 0);
			buf_append_char(out, ')');
		}
		return;
	}
}

static void
emit_roots(const struct forest *f, size_t head, struct buf *out)
{
	for (size_t r = head; r != NONE; r = f->c[r].next) {
		buf_append_char(out, '(');
		emit_members(f, r, out, 0);
		buf_append_char(out, ')');
	}
}

/* ---- ORDEREDSUBJECT ---- */

static int
subject_date_cmp(const void *pa, const void *pb, void *arg)
{
	const struct msg_sort_keys *keys = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int c = strcmp(keys[a].subject != NULL ? keys[a].subject : "",
		       keys[b].subject != NULL ? keys[b].subject : "");

	if (c != 0)
		return c;
	if (keys[a].date != keys[b].date)
		return keys[a].date < keys[b].date ? -1 : 1;
	return a < b ? -1 : a > b ? 1 : 0;
}

void
msg_thread_orderedsubject(const struct msg_sort_keys *keys, size_t count,
			  struct buf *out)
{
	struct forest f = {0};
	size_t *order, root_head = NONE, *root_tail = &root_head, root = NONE;

	if (count == 0)
		return;
	order = xcalloc(count, sizeof(*order));
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	forest_reserve(&f, count); /* root_tail points into f.c */
	/* Sorted by base subject then sent date; each run of one subject is
	 * a thread: the first message, the others its children in order. */
	qsort_r(order, count, sizeof(*order), subject_date_cmp, (void *)keys);
	for (size_t i = 0; i < count; i++) {
		size_t c = forest_add(&f, &keys[order[i]], order[i]);
		if (root != NONE && strcmp(keys[order[i]].subject != NULL
					       ? keys[order[i]].subject
					       : "",
					   f.c[root].msg->subject != NULL
					       ? f.c[root].msg->subject
					       : "") == 0) {
			link_child(&f, root, c);
			continue;
		}
		root = c;
		*root_tail = c;
		root_tail = &f.c[c].next;
	}
	/* Threads by the sent date of their first message. */
	root_head = sort_siblings(&f, root_head);
	emit_roots(&f, root_head, out);
	free(order);
	free(f.c);
}

/* ---- REFERENCES ---- */

/* Finds or creates the container of a message id. */
static size_t
id_container(struct forest *f, GHashTable *ids, const char *id)
{
	gpointer v;

	if (g_hash_table_lookup_extended(ids, id, NULL, &v))
		return (size_t)GPOINTER_TO_SIZE(v) - 1;
	size_t c = forest_add(f, NULL, NONE);
	g_hash_table_insert(ids, (gpointer)id, GSIZE_TO_POINTER(c + 1));
	return c;
}

/* Step 4: prunes the children of c (dummies without children go, dummies
 * with children give them to c), then c's own fate is up to its parent. */
static void
prune_children(struct forest *f, size_t c, unsigned int depth)
{
	size_t *pp = &f->c[c].first_child;

	while (*pp != NONE) {
		size_t k = *pp;

		if (depth < 10000)
			prune_children(f, k, depth + 1);
		if (f->c[k].msg == NULL) {
			if (f->c[k].first_child == NONE) {
				*pp = f->c[k].next; /* drop */
				f->c[k].parent = NONE;
				continue;
			}
			/* Promote k's children to this level, in place. */
			size_t first = f->c[k].first_child, last = first;
			for (size_t g = first; g != NONE; g = f->c[g].next) {
				f->c[g].parent = c;
				last = g;
			}
			f->c[last].next = f->c[k].next;
			*pp = first;
			f->c[k].first_child = NONE;
			f->c[k].parent = NONE;
			continue; /* look at the promoted ones too */
		}
		pp = &f->c[k].next;
	}
}

void
msg_thread_references(const struct msg_sort_keys *keys, size_t count,
		      struct buf *out)
{
	struct forest f = {0};
	GHashTable *ids, *subjects;
	size_t root, *pp;

	if (count == 0)
		return;
	ids = g_hash_table_new(g_str_hash, g_str_equal);
	/* Step 1 */
	for (size_t i = 0; i < count; i++) {
		const struct msg_sort_keys *k = &keys[i];
		size_t mc, prev = NONE;
		gpointer v;

		/* A message without an id, or repeating one, is unique. */
		if (k->message_id != NULL &&
		    g_hash_table_lookup_extended(ids, k->message_id, NULL,
						 &v) &&
		    f.c[GPOINTER_TO_SIZE(v) - 1].msg == NULL) {
			mc = GPOINTER_TO_SIZE(v) - 1;
			f.c[mc].msg = k;
			f.c[mc].index = i;
		} else if (k->message_id != NULL &&
			   !g_hash_table_contains(ids, k->message_id)) {
			mc = id_container(&f, ids, k->message_id);
			f.c[mc].msg = k;
			f.c[mc].index = i;
		} else {
			mc = forest_add(&f, k, i);
		}
		/* 1.A: link the references in order, without loops and
		 * without changing existing links. */
		for (size_t r = 0; r < k->nreferences; r++) {
			size_t rc = id_container(&f, ids, k->references[r]);
			if (prev != NONE && rc != prev &&
			    f.c[rc].parent == NONE &&
			    !is_ancestor(&f, rc, prev))
				link_child(&f, prev, rc);
			prev = rc;
		}
		/* 1.B: the message under its last reference. */
		if (prev != NONE && prev != mc && !is_ancestor(&f, mc, prev))
			link_child(&f, prev, mc);
		else if (prev == NONE)
			unlink_child(&f, mc);
	}
	g_hash_table_destroy(ids);
	/* Step 2: a dummy root holds the root set as its children. */
	root = forest_add(&f, NULL, NONE);
	for (size_t c = 0; c < root; c++)
		if (f.c[c].parent == NONE &&
		    (f.c[c].msg != NULL || f.c[c].first_child != NONE))
			link_child(&f, root, c);
	/* Step 4: prune. At the root level a dummy with several children
	 * stays; prune_children promotes them, so undo that for roots by
	 * pruning each root's children, then handling roots by hand. */
	pp = &f.c[root].first_child;
	while (*pp != NONE) {
		size_t r = *pp;
		prune_children(&f, r, 0);
		if (f.c[r].msg == NULL) {
			size_t kids = 0;
			for (size_t k = f.c[r].first_child; k != NONE;
			     k = f.c[k].next)
				kids++;
			if (kids == 0) {
				*pp = f.c[r].next;
				f.c[r].parent = NONE;
				continue;
			}
			if (kids == 1) {
				/* Promote the only child to the root set. */
				size_t only = f.c[r].first_child;
				f.c[only].parent = root;
				f.c[only].next = f.c[r].next;
				*pp = only;
				f.c[r].first_child = NONE;
				f.c[r].parent = NONE;
				continue;
			}
		}
		pp = &f.c[r].next;
	}
	/* Step 5: group the roots by base subject. */
	subjects = g_hash_table_new(g_str_hash, g_str_equal);
	for (size_t r = f.c[root].first_child; r != NONE; r = f.c[r].next) {
		const struct msg_sort_keys *k =
		    f.c[r].msg != NULL ? f.c[r].msg
				       : f.c[f.c[r].first_child].msg;
		gpointer v;

		if (k == NULL || k->subject == NULL || k->subject[0] == '\0')
			continue;
		if (!g_hash_table_lookup_extended(subjects, k->subject, NULL,
						  &v)) {
			g_hash_table_insert(subjects, k->subject,
					    GSIZE_TO_POINTER(r + 1));
			continue;
		}
		size_t old = GPOINTER_TO_SIZE(v) - 1;
		if ((f.c[r].msg == NULL && f.c[old].msg != NULL) ||
		    (f.c[old].msg != NULL && f.c[old].msg->reply &&
		     f.c[r].msg != NULL && !f.c[r].msg->reply))
			g_hash_table_insert(subjects, k->subject,
					    GSIZE_TO_POINTER(r + 1));
	}
	{
		size_t roots = 0;
		for (size_t r = f.c[root].first_child; r != NONE;
		     r = f.c[r].next)
			roots++;
		forest_reserve(&f, roots); /* pp points into f.c */
	}
	pp = &f.c[root].first_child;
	while (*pp != NONE) {
		size_t r = *pp, t;
		const struct msg_sort_keys *k =
		    f.c[r].msg != NULL ? f.c[r].msg
				       : f.c[f.c[r].first_child].msg;
		gpointer v;

		if (k == NULL || k->subject == NULL || k->subject[0] == '\0' ||
		    !g_hash_table_lookup_extended(subjects, k->subject, NULL,
						  &v) ||
		    (t = GPOINTER_TO_SIZE(v) - 1) == r) {
			pp = &f.c[r].next;
			continue;
		}
		/* r leaves the root set in every case below. */
		*pp = f.c[r].next;
		f.c[r].parent = NONE;
		f.c[r].next = NONE;
		if (f.c[t].msg == NULL && f.c[r].msg == NULL) {
			/* i: both dummies: r's children join t */
			size_t k2 = f.c[r].first_child;
			while (k2 != NONE) {
				size_t next = f.c[k2].next;
				f.c[k2].parent = NONE;
				f.c[k2].next = NONE;
				link_child(&f, t, k2);
				k2 = next;
			}
			f.c[r].first_child = NONE;
		} else if (f.c[t].msg == NULL) {
			/* ii: the non-dummy under the dummy */
			link_child(&f, t, r);
		} else if (f.c[r].msg == NULL) {
			/* ii (other way round): r (dummy) takes t's place */
			size_t *tp;
			for (tp = &f.c[root].first_child; *tp != t;
			     tp = &f.c[*tp].next)
				;
			*tp = r;
			f.c[r].parent = root;
			f.c[r].next = f.c[t].next;
			f.c[t].parent = NONE;
			f.c[t].next = NONE;
			link_child(&f, r, t);
			g_hash_table_insert(subjects, k->subject,
					    GSIZE_TO_POINTER(r + 1));
			if (pp == &f.c[t].next)
				pp = &f.c[r].next;
		} else if (!f.c[t].msg->reply && f.c[r].msg->reply) {
			/* iii: a reply under the original */
			link_child(&f, t, r);
		} else {
			/* iv: both under a new dummy in t's place */
			size_t d = forest_add(&f, NULL, NONE), *tp;
			for (tp = &f.c[root].first_child; *tp != t;
			     tp = &f.c[*tp].next)
				;
			*tp = d;
			f.c[d].parent = root;
			f.c[d].next = f.c[t].next;
			f.c[t].parent = NONE;
			f.c[t].next = NONE;
			link_child(&f, d, t);
			link_child(&f, d, r);
			g_hash_table_insert(subjects, k->subject,
					    GSIZE_TO_POINTER(d + 1));
			if (pp == &f.c[t].next)
				pp = &f.c[d].next;
		}
	}
	g_hash_table_destroy(subjects);
	/* Step 6: sort, children first; then print. */
	sort_tree(&f, root);
	emit_roots(&f, f.c[root].first_child, out);
	free(f.c);
}
