/*
 * directory: the domains, users and aliases Moat receives mail for, kept in
 * the SQLite database DATA_DIR/moat.db. Addresses are compared
 * case-insensitively in the domain and case-preserving but matched
 * case-insensitively in the local part. "+detail" sub-addressing: a local
 * part "user+anything" resolves as "user" when "user+anything" itself is not
 * a user or alias. Aliases map one address to one or more targets (local
 * users, other aliases, up to 8 levels, or foreign addresses).
 *
 * One struct directory per thread (it owns a sqlite3 connection).
 */
#ifndef MOAT_DIRECTORY_H
#define MOAT_DIRECTORY_H

#include <stdbool.h>
#include "lib/config.h"

struct directory;

enum directory_result {
	DIRECTORY_LOCAL,	/* resolved to local users (users_r filled) */
	DIRECTORY_UNKNOWN_USER, /* our domain, no such user or alias */
	DIRECTORY_NOT_LOCAL,	/* not one of our domains */
	DIRECTORY_ERROR,
};

/* Opens DATA_DIR/moat.db, creating/migrating it. 0 or -1 (*error_r alloc). */
int directory_open(const char *data_dir, struct directory **dir_r,
		   char **error_r);
void directory_close(struct directory **dir);

bool directory_domain_is_local(struct directory *dir, const char *domain);
/*
 * Resolves a recipient address to the canonical addresses of the local users
 * whose mailboxes receive it (aliases expanded, +detail stripped, duplicates
 * removed). Foreign alias targets are returned in foreign_r when non-NULL.
 */
enum directory_result directory_resolve(struct directory *dir,
					const char *address,
					struct str_list *users_r,
					struct str_list *foreign_r);
/* Password hash of an existing user (login = full address, any case).
 * 1 found (*hash_r alloc, *canonical_r alloc), 0 no such user, -1 error. */
int directory_user_credentials(struct directory *dir, const char *login,
			       char **canonical_r, char **hash_r);
/* true when user (canonical) may use address as envelope sender: its own
 * address, its +detail forms, or an alias that resolves to it. */
bool directory_user_owns_address(struct directory *dir, const char *user,
				 const char *address);

/* Administration (moatctl). Each returns 0, or -1 with *error_r alloc
 * carrying a message for the admin ("unknown domain example.org", ...). */
int directory_domain_add(struct directory *dir, const char *domain,
			 char **error_r);
int directory_domain_del(struct directory *dir, const char *domain,
			 char **error_r);
int directory_domain_list(struct directory *dir, struct str_list *domains_r,
			  char **error_r);
int directory_user_add(struct directory *dir, const char *address,
		       const char *password_hash, char **error_r);
int directory_user_set_password(struct directory *dir, const char *address,
				const char *password_hash, char **error_r);
int directory_user_del(struct directory *dir, const char *address,
		       char **error_r);
int directory_user_list(struct directory *dir, struct str_list *users_r,
			char **error_r);
int directory_alias_add(struct directory *dir, const char *address,
			const char *target, char **error_r);
/* target NULL removes every target of address. */
int directory_alias_del(struct directory *dir, const char *address,
			const char *target, char **error_r);
/* Items formatted "address -> target". */
int directory_alias_list(struct directory *dir, struct str_list *aliases_r,
			 char **error_r);
/* Number of users (0 on an empty store: dev.sh run creates the demo user). */
int directory_user_count(struct directory *dir);

#endif
