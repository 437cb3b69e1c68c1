/*
 * directory: domains, users and aliases in DATA_DIR/moat.db. Lookups are
 * single indexed queries (fast enough for the SMTP event loop); alias
 * expansion is recursive with a depth limit and a visited set, so alias
 * loops terminate. Every address is checked for syntax and length before
 * it reaches the database. Error strings are written for administrators.
 */
#include "mailstore/directory.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/db.h"
#include "lib/xalloc.h"

#define ALIAS_DEPTH_MAX 8

struct directory {
	sqlite3 *db;
};

static const struct db_migration directory_migrations[] = {
    {1, "CREATE TABLE domains ("
	"  name TEXT PRIMARY KEY COLLATE NOCASE,"
	"  created INTEGER NOT NULL DEFAULT (strftime('%s','now')));"
	"CREATE TABLE users ("
	"  address TEXT PRIMARY KEY COLLATE NOCASE,"
	"  domain TEXT NOT NULL COLLATE NOCASE REFERENCES domains(name),"
	"  password_hash TEXT NOT NULL,"
	"  created INTEGER NOT NULL DEFAULT (strftime('%s','now')));"
	"CREATE INDEX users_domain ON users(domain);"
	"CREATE TABLE aliases ("
	"  address TEXT NOT NULL COLLATE NOCASE,"
	"  target TEXT NOT NULL COLLATE NOCASE,"
	"  PRIMARY KEY (address, target));"},
};

int
directory_open(const char *data_dir, struct directory **dir_r, char **error_r)
{
	char *path = xasprintf("%s/moat.db", data_dir);
	struct directory *dir = xcalloc(1, sizeof(*dir));
	int ret;

	ret = db_open(path, directory_migrations,
		      sizeof(directory_migrations) /
			  sizeof(directory_migrations[0]),
		      &dir->db, error_r);
	free(path);
	if (ret < 0) {
		free(dir);
		return -1;
	}
	*dir_r = dir;
	return 0;
}

void
directory_close(struct directory **dir)
{
	if (*dir == NULL)
		return;
	db_close(&(*dir)->db);
	x_free(dir);
}

/* Domain name syntax: labels of [A-Za-z0-9-], dots, <= 255. */
static bool
domain_valid(const char *domain)
{
	size_t len = strlen(domain), label = 0;

	if (len == 0 || len > 255 || domain[0] == '.' || domain[len - 1] == '.')
		return false;
	for (const char *p = domain; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' ||
			   (unsigned char)*p >= 0x80) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* local@domain with a sane local part; *domain_r points into address. */
static bool
address_valid(const char *address, const char **domain_r)
{
	const char *at = strrchr(address, '@');
	size_t local_len;

	if (at == NULL || strlen(address) > 320)
		return false;
	local_len = (size_t)(at - address);
	if (local_len == 0 || local_len > 64 ||
	    memchr(address, '@', local_len) != NULL)
		return false;
	for (size_t i = 0; i < local_len; i++) {
		unsigned char c = (unsigned char)address[i];
		if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' ||
		    c == '"' || c == '<' || c == '>')
			return false;
	}
	if (strstr(address, "..") != NULL || address[0] == '.' || at[-1] == '.')
		return false;
	if (domain_r != NULL)
		*domain_r = at + 1;
	return domain_valid(at + 1);
}

static sqlite3_stmt *
prepare(struct directory *dir, const char *sql)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(dir->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return NULL;
	return stmt;
}

/* Runs a query with text parameters; 1 row, 0 none, -1 error. With col
 * >= 0 the text of that column is returned in *text_r. */
static int
query_text(struct directory *dir, const char *sql, const char *a, const char *b,
	   int col, char **text_r)
{
	sqlite3_stmt *stmt = prepare(dir, sql);
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && col >= 0 && text_r != NULL) {
		const unsigned char *t = sqlite3_column_text(stmt, col);
		*text_r = xstrdup(t != NULL ? (const char *)t : "");
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
exec_text(struct directory *dir, const char *sql, const char *a, const char *b,
	  const char *c, char **error_r)
{
	sqlite3_stmt *stmt = prepare(dir, sql);
	int rc;

	if (stmt == NULL) {
		*error_r = xstrdup(sqlite3_errmsg(dir->db));
		return -1;
	}
	sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
	if (c != NULL)
		sqlite3_bind_text(stmt, 3, c, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(dir->db));
		return -1;
	}
	return sqlite3_changes(dir->db);
}

bool
directory_domain_is_local(struct directory *dir, const char *domain)
{
	return query_text(dir, "SELECT 1 FROM domains WHERE name = ?", domain,
			  NULL, -1, NULL) == 1;
}

static bool
list_contains(const struct str_list *list, const char *s)
{
	for (size_t i = 0; i < list->count; i++)
		if (strcasecmp(list->items[i], s) == 0)
			return true;
	return false;
}

/* Canonical user address or NULL. */
static char *
user_lookup(struct directory *dir, const char *address)
{
	char *canonical = NULL;

	if (query_text(dir, "SELECT address FROM users WHERE address = ?",
		       address, NULL, 0, &canonical) != 1)
		return NULL;
	return canonical;
}

static int
alias_targets(struct directory *dir, const char *address,
	      struct str_list *targets_r)
{
	sqlite3_stmt *stmt = prepare(
	    dir,
	    "SELECT target FROM aliases WHERE address = ? ORDER BY target");
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		str_list_add(targets_r,
			     (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Expands one address; 1 something found, 0 nothing, -1 error. */
static int
expand(struct directory *dir, const char *address, int depth,
       struct str_list *visited, struct str_list *users_r,
       struct str_list *foreign_r)
{
	struct str_list targets = {0};
	const char *domain;
	char *user;
	int found = 0;

	if (depth > ALIAS_DEPTH_MAX || list_contains(visited, address))
		return 0;
	str_list_add(visited, address);
	user = user_lookup(dir, address);
	if (user != NULL) {
		if (!list_contains(users_r, user))
			str_list_add(users_r, user);
		free(user);
		return 1;
	}
	if (alias_targets(dir, address, &targets) < 0)
		return -1;
	for (size_t i = 0; i < targets.count; i++) {
		const char *t = targets.items[i];
		int r;

		if (!address_valid(t, &domain))
			continue;
		if (!directory_domain_is_local(dir, domain)) {
			if (foreign_r != NULL && !list_contains(foreign_r, t))
				str_list_add(foreign_r, t);
			found = 1;
			continue;
		}
		r = expand(dir, t, depth + 1, visited, users_r, foreign_r);
		if (r < 0) {
			str_list_free(&targets);
			return -1;
		}
		found |= r;
	}
	str_list_free(&targets);
	return found;
}

enum directory_result
directory_resolve(struct directory *dir, const char *address,
		  struct str_list *users_r, struct str_list *foreign_r)
{
	struct str_list visited = {0};
	const char *domain, *plus;
	int r;

	if (!address_valid(address, &domain))
		return DIRECTORY_UNKNOWN_USER;
	if (!directory_domain_is_local(dir, domain))
		return DIRECTORY_NOT_LOCAL;
	r = expand(dir, address, 0, &visited, users_r, foreign_r);
	plus = memchr(address, '+', (size_t)(domain - 1 - address));
	if (r == 0 && plus != NULL && plus != address) {
		/* user+detail@domain -> user@domain */
		char *base = xasprintf("%.*s@%s", (int)(plus - address),
				       address, domain);
		str_list_free(&visited);
		r = expand(dir, base, 0, &visited, users_r, foreign_r);
		free(base);
	}
	str_list_free(&visited);
	if (r < 0)
		return DIRECTORY_ERROR;
	return r > 0 ? DIRECTORY_LOCAL : DIRECTORY_UNKNOWN_USER;
}

int
directory_user_credentials(struct directory *dir, const char *login,
			   char **canonical_r, char **hash_r)
{
	sqlite3_stmt *stmt = prepare(
	    dir, "SELECT address, password_hash FROM users WHERE address = ?");
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, login, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*canonical_r =
		    xstrdup((const char *)sqlite3_column_text(stmt, 0));
		*hash_r = xstrdup((const char *)sqlite3_column_text(stmt, 1));
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

bool
directory_user_owns_address(struct directory *dir, const char *user,
			    const char *address)
{
	struct str_list users = {0};
	bool owns = false;

	if (strcasecmp(user, address) == 0)
		return true;
	if (directory_resolve(dir, address, &users, NULL) == DIRECTORY_LOCAL)
		owns =
		    users.count == 1 && strcasecmp(users.items[0], user) == 0;
	str_list_free(&users);
	return owns;
}

int
directory_domain_add(struct directory *dir, const char *domain, char **error_r)
{
	if (!domain_valid(domain)) {
		*error_r = xasprintf("invalid domain name '%s'", domain);
		return -1;
	}
	if (directory_domain_is_local(dir, domain)) {
		*error_r = xasprintf("domain %s exists", domain);
		return -1;
	}
	return exec_text(dir, "INSERT INTO domains(name) VALUES (lower(?))",
			 domain, NULL, NULL, error_r) < 0
		   ? -1
		   : 0;
}

static int
count_where(struct directory *dir, const char *sql, const char *arg)
{
	sqlite3_stmt *stmt = prepare(dir, sql);
	int n = -1;

	if (stmt == NULL)
		return -1;
	if (arg != NULL)
		sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

int
directory_domain_del(struct directory *dir, const char *domain, char **error_r)
{
	int users;

	if (!directory_domain_is_local(dir, domain)) {
		*error_r = xasprintf("unknown domain %s", domain);
		return -1;
	}
	users = count_where(dir, "SELECT count(*) FROM users WHERE domain = ?",
			    domain);
	if (users != 0) {
		*error_r = xasprintf("domain %s still has %d user%s", domain,
				     users, users == 1 ? "" : "s");
		return -1;
	}
	return exec_text(dir, "DELETE FROM domains WHERE name = ?", domain,
			 NULL, NULL, error_r) < 0
		   ? -1
		   : 0;
}

static int
list_column(struct directory *dir, const char *sql, struct str_list *list_r,
	    char **error_r)
{
	sqlite3_stmt *stmt = prepare(dir, sql);
	int rc;

	if (stmt == NULL) {
		*error_r = xstrdup(sqlite3_errmsg(dir->db));
		return -1;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		str_list_add(list_r,
			     (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = xstrdup(sqlite3_errmsg(dir->db));
		return -1;
	}
	return 0;
}

int
directory_domain_list(struct directory *dir, struct str_list *domains_r,
		      char **error_r)
{
	return list_column(dir, "SELECT name FROM domains ORDER BY name",
			   domains_r, error_r);
}

/* Checks syntax and that the domain is ours; -1 with *error_r. */
static int
check_local_address(struct directory *dir, const char *address, char **error_r)
{
	const char *domain;

	if (!address_valid(address, &domain)) {
		*error_r = xasprintf("invalid address '%s'", address);
		return -1;
	}
	if (!directory_domain_is_local(dir, domain)) {
		*error_r = xasprintf("unknown domain %s (add it with: "
				     "moatctl domain add %s)",
				     domain, domain);
		return -1;
	}
	return 0;
}

int
directory_user_add(struct directory *dir, const char *address,
		   const char *password_hash, char **error_r)
{
	const char *domain;
	char *existing;

	if (check_local_address(dir, address, error_r) < 0)
		return -1;
	existing = user_lookup(dir, address);
	if (existing != NULL) {
		*error_r = xasprintf("user %s exists", existing);
		free(existing);
		return -1;
	}
	domain = strrchr(address, '@') + 1;
	return exec_text(dir,
			 "INSERT INTO users(address, domain, password_hash) "
			 "VALUES (substr(?1, 1, instr(?1, '@')) || lower(?2), "
			 "lower(?2), ?3)",
			 address, domain, password_hash, error_r) < 0
		   ? -1
		   : 0;
}

int
directory_user_set_password(struct directory *dir, const char *address,
			    const char *password_hash, char **error_r)
{
	int n = exec_text(
	    dir, "UPDATE users SET password_hash = ?2 WHERE address = ?1",
	    address, password_hash, NULL, error_r);

	if (n == 0) {
		*error_r = xasprintf("no such user %s", address);
		return -1;
	}
	return n < 0 ? -1 : 0;
}

int
directory_user_del(struct directory *dir, const char *address, char **error_r)
{
	int n = exec_text(dir, "DELETE FROM users WHERE address = ?", address,
			  NULL, NULL, error_r);

	if (n == 0) {
		*error_r = xasprintf("no such user %s", address);
		return -1;
	}
	return n < 0 ? -1 : 0;
}

int
directory_user_list(struct directory *dir, struct str_list *users_r,
		    char **error_r)
{
	return list_column(dir,
			   "SELECT address FROM users ORDER BY domain, "
			   "address",
			   users_r, error_r);
}

int
directory_alias_add(struct directory *dir, const char *address,
		    const char *target, char **error_r)
{
	if (check_local_address(dir, address, error_r) < 0)
		return -1;
	if (!address_valid(target, NULL)) {
		*error_r = xasprintf("invalid target address '%s'", target);
		return -1;
	}
	if (query_text(dir,
		       "SELECT 1 FROM aliases WHERE address = ? AND target = ?",
		       address, target, -1, NULL) == 1) {
		*error_r = xasprintf("alias %s -> %s exists", address, target);
		return -1;
	}
	return exec_text(dir,
			 "INSERT INTO aliases(address, target) VALUES (?, ?)",
			 address, target, NULL, error_r) < 0
		   ? -1
		   : 0;
}

int
directory_alias_del(struct directory *dir, const char *address,
		    const char *target, char **error_r)
{
	int n = target != NULL
		    ? exec_text(dir,
				"DELETE FROM aliases WHERE address = ? AND "
				"target = ?",
				address, target, NULL, error_r)
		    : exec_text(dir, "DELETE FROM aliases WHERE address = ?",
				address, NULL, NULL, error_r);

	if (n == 0) {
		*error_r = xasprintf("no such alias %s%s%s", address,
				     target != NULL ? " -> " : "",
				     target != NULL ? target : "");
		return -1;
	}
	return n < 0 ? -1 : 0;
}

int
directory_alias_list(struct directory *dir, struct str_list *aliases_r,
		     char **error_r)
{
	return list_column(dir,
			   "SELECT address || ' -> ' || target FROM aliases "
			   "ORDER BY address, target",
			   aliases_r, error_r);
}

int
directory_user_count(struct directory *dir)
{
	return count_where(dir, "SELECT count(*) FROM users", NULL);
}
