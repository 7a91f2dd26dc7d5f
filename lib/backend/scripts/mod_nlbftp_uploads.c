/*
 * mod_nlbftp_uploads: an FTP or FTPS upload that was cut off is never renamed into place.
 *
 * ProFTPD writes every upload under a hidden name (HiddenStores) and renames it to its real name
 * when the data connection ends. In FTP's stream mode that end *is* the end of the file, so a
 * client that is killed mid-upload (its kernel closes the data connection the way a finished
 * upload does) had its partial file renamed into place. ProFTPD 1.3.8c cannot tell on its own:
 *   - FTPS: a finished client ends its TLS with close_notify; a killed one (or a FIN injected on
 *     the path) does not. mod_tls's tls_read() checks only SSL_read() < 0, and OpenSSL 3 returns 0
 *     for both, so the missing close_notify is never seen.
 *   - FTP: a finished client keeps its control connection open to read the 226; a killed client's
 *     control connection has ended too.
 * This module stacks a rename() on ProFTPD's file system layer. When mod_xfer renames an upload's
 * hidden file into place (a data connection is open and the rename's source is that upload's
 * hidden path), it refuses the rename if the upload's TLS ended without close_notify, or if the
 * control connection has ended. mod_xfer then deletes the hidden file and answers 550, and the
 * transfer is logged as failed. Every other rename (RNFR/RNTO, SFTP's own) passes straight through.
 *
 * Built on the backend at boot against the installed ProFTPD's headers (boot step 2; see
 * server-proftpd.sh), loaded with LoadModule. No settings.
 */

#include "conf.h"

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#define MOD_NLBFTP_UPLOADS_VERSION "mod_nlbftp_uploads/1.0"

/* mod_tls keeps each stream's SSL object in the stream's notes under this key. */
#define TLS_NETIO_NOTE "mod_tls.SSL"

/* How long a plain-FTP upload's end waits for a control connection that is closing with it. */
#define CONTROL_GRACE_MS 50

extern session_t session;
module nlbftp_uploads_module;

static const char *trace_channel = "nlbftp_uploads";

/* Has the control connection ended (a FIN, or an error)? Waits up to grace_ms for it. Bytes
 * waiting there (a pipelined command) mean it is alive. */
static int control_ended(int grace_ms) {
  struct pollfd pfd;
  char b;
  int fd;
  ssize_t n;

  if (session.c == NULL || session.c->instrm == NULL) {
    return TRUE;
  }

  fd = PR_NETIO_FD(session.c->instrm);
  pfd.fd = fd;
  pfd.events = POLLIN | POLLRDHUP;
  pfd.revents = 0;
  if (poll(&pfd, 1, grace_ms) <= 0) {
    return FALSE;
  }

  n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) {
    return FALSE;
  }

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    return FALSE;
  }

  return TRUE;
}

/* Why the upload now ending was cut off, or NULL if it completed. */
static const char *cut_off(void) {
  SSL *ssl = NULL;

  if (session.d != NULL && session.d->instrm != NULL) {
    ssl = (SSL *) pr_table_get(session.d->instrm->notes, TLS_NETIO_NOTE, NULL);
  }

  if (ssl != NULL) {
    /* FTPS data: complete only if the client's close_notify arrived. */
    if (!(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)) {
      return "its TLS ended without close_notify";
    }
    return NULL;
  }

  /* Plain FTP data: complete only if the client is still there to read the reply. */
  if (control_ended(CONTROL_GRACE_MS)) {
    return "the control connection ended with it";
  }

  return NULL;
}

static int nlbftp_rename(pr_fs_t *fs, const char *from, const char *to) {
  pr_fs_t *next;

  if (session.d != NULL && session.xfer.path_hidden != NULL && strcmp(from, session.xfer.path_hidden) == 0) {
    const char *why = cut_off();
    if (why != NULL) {
      pr_log_pri(PR_LOG_WARNING, MOD_NLBFTP_UPLOADS_VERSION ": upload of '%s' cut off (%s): not renamed into place", to, why);
      pr_trace_msg(trace_channel, 1, "refusing rename of '%s' to '%s': %s", from, to, why);
      errno = ECONNABORTED;
      return -1;
    }
  }

  next = fs->fs_next;
  while (next != NULL && next->rename == NULL) {
    next = next->fs_next;
  }

  if (next == NULL) {
    return rename(from, to);
  }

  return (next->rename)(next, from, to);
}

static int nlbftp_sess_init(void) {
  pr_fs_t *fs;

  fs = pr_register_fs(session.pool, "nlbftp_uploads", "/");
  if (fs == NULL) {
    pr_log_pri(PR_LOG_WARNING, MOD_NLBFTP_UPLOADS_VERSION ": unable to register its file system: %s", strerror(errno));
    return -1;
  }

  fs->rename = nlbftp_rename;
  return 0;
}

module nlbftp_uploads_module = {
  NULL, NULL,

  /* Module API version 2.0 */
  0x20,

  /* Module name */
  "nlbftp_uploads",

  /* Configuration, command and authentication handler tables */
  NULL, NULL, NULL,

  /* Module and session initialization */
  NULL, nlbftp_sess_init,

  /* Module version */
  MOD_NLBFTP_UPLOADS_VERSION
};
