/*
 * spool_recover: what smtpd does with DATA_DIR/queue before it accepts
 * mail. smtpd is the only process that leaves queue files unready (see
 * queue_file.h) while it writes and filters them, and it runs alone (the
 * master starts a new smtpd only after the old one exited), so an unready
 * file found at start belongs to a dead smtpd: the client never got its
 * 250 and sends the message again. Such files are removed, with a log
 * line each.
 *
 * Queue files written before the ready mark existed are all unready. The
 * marker file QUEUE_DIR/.ready-mark says the spool uses the mark; when it
 * is missing, every unready file is taken as complete (marked ready, as
 * the old rescans would have delivered it, and announced to the queue
 * process like a new message) and the marker is created.
 */
#ifndef MOAT_SPOOL_RECOVER_H
#define MOAT_SPOOL_RECOVER_H

/* Cleans the spool directory dir_fd (named queue_dir, for logs);
 * notify_fd (or -1) is the queue's datagram socket. 0, or -1 when the
 * directory cannot be read or the marker cannot be made durable (logged). */
int spool_recover(int dir_fd, const char *queue_dir, int notify_fd);

#endif
