/*
 * settings: every static setting of moat.conf, declared once in
 * moat_setting_defs[] (settings.c) with its default, bounds and help text.
 * Run-time objects (domains, users, aliases) live in the database instead.
 */
#ifndef MOAT_SETTINGS_H
#define MOAT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "lib/config.h"

struct moat_settings {
	/* process */
	char *data_dir;	 /* absolute; holds moat.db, mail/, queue/, tls/ */
	char *hostname;	 /* "" = gethostname() */
	char *user;	 /* drop to this user when started as root */
	char *log_level; /* debug|info|warn|error */

	/* listeners ("ip:port" items; empty list = service off) */
	struct str_list smtp_listen;	   /* MX, port 25 */
	struct str_list submission_listen; /* 587, STARTTLS + AUTH */
	struct str_list smtps_listen;	   /* 465, implicit TLS */
	struct str_list imap_listen;
	struct str_list imaps_listen;
	struct str_list pop3_listen;
	struct str_list pop3s_listen;
	struct str_list web_listen;

	/* TLS ("" = self-signed under data_dir/tls/) */
	char *tls_cert;
	char *tls_key;

	/* DNS ("ip" or "ip@port" items; empty = /etc/resolv.conf) */
	struct str_list dns_servers;

	/* SMTP limits */
	unsigned long long smtp_max_message_size;
	long long smtp_max_recipients;
	long long smtp_max_line_length; /* data line, octets without CRLF */
	long long smtp_max_errors;	/* then 421 */
	long long smtp_max_commands_before_mail; /* NOOP/RSET/VRFY/HELO... */
	long long smtp_max_connections;
	long long smtp_max_connections_per_ip;
	unsigned int smtp_command_timeout;
	unsigned int smtp_data_timeout;
	unsigned int smtp_shutdown_timeout;
	bool smtp_require_tls_for_auth;
	char *smtp_banner; /* text after "220 hostname" */

	/* queue */
	unsigned int queue_scan_interval;
	long long queue_delivery_batch;
	unsigned long long queue_min_free; /* bytes free to accept MAIL */

	/* mailstore and IMAP (imapd) */
	unsigned long long mailstore_quota; /* bytes per user, 0 = none */
	bool imap_allow_plaintext_loopback; /* LOGIN without TLS from 127/8 */
	long long imap_max_connections;
	long long imap_max_connections_per_ip;
	unsigned int imap_idle_timeout;	 /* authenticated, incl. IDLE */
	unsigned int imap_login_timeout; /* before authentication */
	unsigned int imap_write_timeout; /* a client that stops reading */
	unsigned long long
	    imap_max_command_size; /* line + literals, not APPEND */
	/* POP3 (pop3d) */
	bool pop3_allow_plaintext_loopback; /* USER/PASS without TLS, 127/8 */
	long long pop3_max_connections;
	long long pop3_max_connections_per_ip;
	unsigned int pop3_login_timeout; /* before authentication */
	unsigned int pop3_idle_timeout;	 /* after it; stalled writes too */
	/* relay: delivery to other hosts (route, smtp_client, retries) */
	struct str_list relay_routes; /* "DOMAIN=NEXTHOP[|NEXTHOP..]" items */
	char *relay_default_route;    /* "" = MX of the recipient domain */
	char *relay_tls_policy;	      /* none|encrypt|verify */
	long long relay_remote_port;  /* 25; tests point it elsewhere */
	long long relay_max_connections;
	long long relay_max_connections_per_destination;
	unsigned int relay_connect_timeout;
	unsigned int relay_command_timeout;
	unsigned int relay_retry_min;
	unsigned int relay_retry_max;
	unsigned int relay_max_lifetime;
	unsigned int relay_delay_warning;
	bool relay_verify_recipients;
	unsigned int relay_verify_cache_ttl;
	/* filter chain (filters/filter.h, filters/filter_chain.h) */
	struct str_list filters;	   /* names, in order */
	struct config_map filter_settings; /* "filter.NAME.KEY" lines */
	long long filters_threads;	   /* 0 = one per CPU */
	char *authserv_id;		   /* "" = hostname */
	bool filters_message_log;
	struct str_list smtp_xclient_trusted; /* XCLIENT peers (tests) */
	/* policy step (rules/policy.h) */
	struct str_list policy_reject_symbols;
	struct str_list policy_tempfail_symbols;
	long long policy_reject_score; /* 0 = off */
	/* filter phases: early rejects answered at RCPT (smtpd_delay_reject) */
	bool smtp_delay_reject;
	/* DMARC aggregate reports (gateway/dmarc_reporter.h) */
	bool dmarc_reports;		     /* send them */
	char *dmarc_report_org;		     /* org_name; "" = hostname */
	char *dmarc_report_from;	     /* "" = dmarc-reports@hostname */
	unsigned int dmarc_report_interval;  /* seconds per report */
	unsigned int dmarc_report_retention; /* rows kept at most */
	/* users' spam training (gateway/spam_learn.c) */
	bool spam_user_training; /* IMAP Junk moves and $Junk keywords */
	long long spam_user_training_max_pending; /* messages in the spool */
	/* quarantine store (mailstore/quarantine_db.c, gateway/quarantine.c) */
	unsigned int quarantine_retention;	 /* seconds an entry is kept */
	unsigned int quarantine_prune_interval;	 /* queue prunes this often */
	bool quarantine_learn_on_release;	 /* spam releases train ham */
	struct str_list quarantine_user_filters; /* users see these entries */
};

extern const struct setting_def moat_setting_defs[];
extern const size_t moat_setting_defs_count;

/* Defaults + file; fills hostname when empty. 0, or -1 with *error_r
 * allocated as "file:line: message". */
/* Value of a "filter.KEY" line (KEY as "dkim_sign.key_dir"), or NULL.
 * dkim_sign.key_dir defaults to DATA_DIR/dkim after moat_settings_load(). */
const char *moat_settings_filter_value(const struct moat_settings *settings,
				       const char *key);
int moat_settings_load(const char *path, struct moat_settings *settings,
		       char **error_r);
void moat_settings_free(struct moat_settings *settings);
struct filter_chain_config;
/* The filter chain's view of the settings (pointers into settings; the
 * message log path is left NULL for the caller). */
void moat_settings_filter_config(const struct moat_settings *settings,
				 struct filter_chain_config *config_r);
/* filter_chain_check() on the settings (moat_settings_load() calls it). */
int moat_settings_check_filters(const struct moat_settings *settings,
				char **error_r);
/* Prints every setting, its default and its help text. */
void moat_settings_print_help(FILE *out);
/* Writes a commented default moat.conf for the given data dir with the
 * developer (loopback) ports. Returns 0 or -1 (errno). */
int moat_settings_write_dev_default(const char *path, const char *data_dir);

#endif
