/* vml-qmp.c: see vml-qmp.h. Plain C: vmlease-holder has no GLib. */
#define _GNU_SOURCE   /* struct ucred */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vml-qmp.h"

struct _VmlQmp {
  int       fd;
  long long deadline_ms;   /* CLOCK_MONOTONIC, of the exchange under way */
  char      buf[4096];     /* what was read and not yet taken as lines */
  size_t    len;
  char     *why;
  size_t    why_len;
  char      events[8][32]; /* the names of the last events QEMU sent */
  unsigned  n_events;
};
typedef struct _VmlQmp Qmp;

static long long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
qmp_fail (Qmp *qmp, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  vsnprintf (qmp->why, qmp->why_len, format, ap);
  va_end (ap);
  return -1;
}

/* Waits until @fd is ready for @events, within the deadline. */
static int
qmp_wait (Qmp *qmp, short events, const char *what)
{
  struct pollfd pfd = { .fd = qmp->fd, .events = events };

  for (;;)
    {
      long long left = qmp->deadline_ms - now_ms ();
      int n;

      if (left <= 0)
        return qmp_fail (qmp, "no answer within the timeout while %s", what);
      n = poll (&pfd, 1, (int) left);
      if (n > 0)
        return 0;
      if (n < 0 && errno != EINTR)
        return qmp_fail (qmp, "poll: %s", strerror (errno));
    }
}

static int
qmp_send (Qmp *qmp, const char *command)
{
  size_t off = 0, len = strlen (command);

  /* sent at once where the socket takes it; waited for only when full */
  while (off < len)
    {
      ssize_t n = send (qmp->fd, command + off, len - off, MSG_NOSIGNAL);

      if (n > 0)
        off += (size_t) n;
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        return qmp_fail (qmp, "send: %s", strerror (errno));
      else if (n < 0 && errno == EAGAIN && qmp_wait (qmp, POLLOUT, "sending") != 0)
        return -1;
    }
  return 0;
}

/* The next line QEMU sent, '\n' and '\r' cut, into @line. */
static int
qmp_next_line (Qmp *qmp, char *line, size_t line_len, const char *what)
{
  for (;;)
    {
      char *nl = memchr (qmp->buf, '\n', qmp->len);
      ssize_t n;

      if (nl != NULL)
        {
          size_t taken = (size_t) (nl - qmp->buf) + 1, keep = taken - 1;

          if (keep > 0 && qmp->buf[keep - 1] == '\r')
            keep--;
          if (keep >= line_len)
            keep = line_len - 1;
          memcpy (line, qmp->buf, keep);
          line[keep] = '\0';
          memmove (qmp->buf, qmp->buf + taken, qmp->len - taken);
          qmp->len -= taken;
          return 0;
        }
      if (qmp->len == sizeof qmp->buf)
        qmp->len = 0;   /* a line longer than we care for: not one we wait for */
      if (qmp_wait (qmp, POLLIN, what) != 0)
        return -1;
      n = recv (qmp->fd, qmp->buf + qmp->len, sizeof qmp->buf - qmp->len, 0);
      if (n == 0)
        return qmp_fail (qmp, "QEMU closed the connection while %s", what);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return qmp_fail (qmp, "recv: %s", strerror (errno));
      if (n > 0)
        qmp->len += (size_t) n;
    }
}

/* If @line is an event, its name is kept (vml_qmp_wait_event() may ask
 * for it later) and TRUE is returned. */
static int
qmp_take_event (Qmp *qmp, const char *line)
{
  const char *name = strstr (line, "\"event\": \"");
  size_t len;

  /* an event ("STOP" comes before stop's return) has its timestamp first */
  if (name == NULL || strstr (line, "\"return\"") != NULL || strstr (line, "\"error\"") != NULL)
    return 0;
  name += strlen ("\"event\": \"");
  len = strcspn (name, "\"");
  if (len < sizeof qmp->events[0])
    {
      unsigned slot = qmp->n_events++ % (sizeof qmp->events / sizeof qmp->events[0]);

      memcpy (qmp->events[slot], name, len);
      qmp->events[slot][len] = '\0';
    }
  return 1;
}

/* The next line QEMU sent that is not an event (those are kept). */
static int
qmp_read_line (Qmp *qmp, char *line, size_t line_len, const char *what)
{
  do
    if (qmp_next_line (qmp, line, line_len, what) != 0)
      return -1;
  while (qmp_take_event (qmp, line));
  return 0;
}

static int
qmp_event_seen (Qmp *qmp, const char *event)
{
  unsigned kept = sizeof qmp->events / sizeof qmp->events[0];

  for (unsigned i = 0; i < kept && i < qmp->n_events; i++)
    if (strcmp (qmp->events[i], event) == 0)
      return 1;
  return 0;
}

/* Waits for the answer to @name: {"return": ...}, or fails with QEMU's
 * error; events before it are kept. */
static int
qmp_read_return (Qmp *qmp, const char *name)
{
  char line[512];

  if (qmp_read_line (qmp, line, sizeof line, name) != 0)
    return -1;
  if (strncmp (line, "{\"return\"", 9) != 0)
    return qmp_fail (qmp, "QEMU answered %s with %s", name, line);
  return 0;
}

/* Sends @command and waits for its answer (qmp_read_return). */
static int
qmp_execute (Qmp *qmp, const char *command, const char *name)
{
  return qmp_send (qmp, command) != 0 ? -1 : qmp_read_return (qmp, name);
}

/* Whether the socket's server is process @pid, or runs as its user. */
static int
qmp_peer_ok (Qmp *qmp, pid_t pid)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  char proc[64];
  struct stat st;

  if (getsockopt (qmp->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return qmp_fail (qmp, "cannot tell who serves the socket: %s", strerror (errno));
  if (cred.pid == pid)
    return 0;
  snprintf (proc, sizeof proc, "/proc/%d", (int) pid);
  if (stat (proc, &st) == 0 && st.st_uid == cred.uid)
    return 0;
  return qmp_fail (qmp, "the socket is served by process %d (uid %u), neither the VM "
                   "process %d nor its user", (int) cred.pid, (unsigned) cred.uid, (int) pid);
}

static void
qmp_start (Qmp *qmp, int timeout_ms, char *why, size_t why_len)
{
  qmp->deadline_ms = now_ms () + timeout_ms;
  qmp->why = why;
  qmp->why_len = why_len;
  if (why_len > 0)
    why[0] = '\0';
}

VmlQmp *
vml_qmp_open (const char *qmp_path, pid_t pid, int timeout_ms, char *why, size_t why_len)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  Qmp *qmp = calloc (1, sizeof *qmp);
  char greeting[512];

  if (qmp == NULL)
    {
      snprintf (why, why_len, "out of memory");
      return NULL;
    }
  qmp->fd = -1;
  qmp_start (qmp, timeout_ms, why, why_len);
  if (strlen (qmp_path) >= sizeof addr.sun_path)
    {
      qmp_fail (qmp, "the QMP socket path is too long");
      goto fail;
    }
  strcpy (addr.sun_path, qmp_path);
  qmp->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (qmp->fd < 0)
    {
      qmp_fail (qmp, "socket: %s", strerror (errno));
      goto fail;
    }
  /* A unix socket connects at once or fails (EAGAIN: backlog full). */
  if (connect (qmp->fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      qmp_fail (qmp, "cannot connect to %s: %s", qmp_path, strerror (errno));
      goto fail;
    }
  if (qmp_peer_ok (qmp, pid) != 0 ||
      qmp_read_line (qmp, greeting, sizeof greeting, "waiting for the greeting "
                     "(is another client connected to this monitor?)") != 0)
    goto fail;
  if (strncmp (greeting, "{\"QMP\"", 6) != 0)
    {
      qmp_fail (qmp, "not a QMP greeting: %s", greeting);
      goto fail;
    }
  if (qmp_execute (qmp, "{\"execute\": \"qmp_capabilities\"}\n", "qmp_capabilities") != 0)
    goto fail;
  return qmp;

fail:
  vml_qmp_close (qmp);
  return NULL;
}

/* {"execute": "@command"}, as a line */
static int
command_line (Qmp *qmp, const char *command, char *line, size_t line_len)
{
  if (snprintf (line, line_len, "{\"execute\": \"%s\"}\n", command) >= (int) line_len)
    return qmp_fail (qmp, "the QMP command name is too long");
  return 0;
}

int
vml_qmp_execute (VmlQmp *qmp, const char *command, int timeout_ms, char *why, size_t why_len)
{
  char line[128];

  qmp_start (qmp, timeout_ms, why, why_len);
  if (command_line (qmp, command, line, sizeof line) != 0)
    return -1;
  return qmp_execute (qmp, line, command);
}

int
vml_qmp_send (VmlQmp *qmp, const char *command, char *why, size_t why_len)
{
  char line[128];

  qmp_start (qmp, 0, why, why_len);
  if (command_line (qmp, command, line, sizeof line) != 0)
    return -1;
  qmp->n_events = 0;   /* vml_qmp_wait_event() looks for those after it */
  return qmp_send (qmp, line);
}

int
vml_qmp_wait_return (VmlQmp *qmp, const char *command, int timeout_ms, char *why,
                     size_t why_len)
{
  qmp_start (qmp, timeout_ms, why, why_len);
  return qmp_read_return (qmp, command);
}

int
vml_qmp_wait_event (VmlQmp *qmp, const char *event, int timeout_ms, char *why, size_t why_len)
{
  char line[512];

  qmp_start (qmp, timeout_ms, why, why_len);
  while (!qmp_event_seen (qmp, event))
    {
      if (qmp_next_line (qmp, line, sizeof line, event) != 0)
        return -1;
      qmp_take_event (qmp, line);
    }
  return 0;
}

void
vml_qmp_close (VmlQmp *qmp)
{
  if (qmp == NULL)
    return;
  if (qmp->fd >= 0)
    close (qmp->fd);
  free (qmp);
}

int
vml_qmp_run (const char *qmp_path, pid_t pid, const char *command, int timeout_ms, char *why,
             size_t why_len)
{
  long long deadline_ms = now_ms () + timeout_ms;
  VmlQmp *qmp = vml_qmp_open (qmp_path, pid, timeout_ms, why, why_len);
  int rv;

  if (qmp == NULL)
    return -1;
  rv = vml_qmp_execute (qmp, command, (int) (deadline_ms - now_ms ()), why, why_len);
  vml_qmp_close (qmp);
  return rv;
}
