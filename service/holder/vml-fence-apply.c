/* vml-fence-apply.c: see vml-fence-apply.h. Plain C: vmlease-holder
 * has no GLib. */
#define _GNU_SOURCE   /* struct ucred */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vml-fence-apply.h"

unsigned long long
vml_process_start_time (pid_t pid)
{
  char path[64], stat[1024];
  unsigned long long start = 0;
  const char *p;
  ssize_t n;
  int fd;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  n = read (fd, stat, sizeof stat - 1);
  close (fd);
  if (n <= 0)
    return 0;
  stat[n] = '\0';
  /* The command name (field 2) may hold blanks: count from its ')'. */
  p = strrchr (stat, ')');
  for (int field = 2; p != NULL && field < 22; field++)
    p = strchr (p + 1, ' ');
  if (p != NULL)
    start = strtoull (p + 1, NULL, 10);
  return start;
}

int
vml_fence_signal (VmlFence fence)
{
  switch (fence)
    {
    case VML_FENCE_KILL:  return SIGKILL;
    case VML_FENCE_PAUSE: return SIGSTOP;
    case VML_FENCE_NONE:
    default:              return 0;
    }
}

int
vml_fence_apply (VmlFence fence, int pidfd, pid_t pid, unsigned long long start_time)
{
  int signo = vml_fence_signal (fence);

  if (signo == 0 || (pidfd < 0 && pid <= 0))
    {
      errno = EINVAL;
      return -1;
    }
  if (pidfd >= 0)
    return pidfd_send_signal (pidfd, signo, NULL, 0);
  if (start_time == 0 || vml_process_start_time (pid) != start_time)
    {
      errno = ESRCH;
      return -1;
    }
  return kill (pid, signo);
}

/* ---- the QMP fence ------------------------------------------------------ */

typedef struct {
  int       fd;
  long long deadline_ms;   /* CLOCK_MONOTONIC */
  char      buf[4096];     /* what was read and not yet taken as lines */
  size_t    len;
  char     *why;
  size_t    why_len;
} Qmp;

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

  while (off < len)
    {
      ssize_t n;

      if (qmp_wait (qmp, POLLOUT, "sending") != 0)
        return -1;
      n = send (qmp->fd, command + off, len - off, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return qmp_fail (qmp, "send: %s", strerror (errno));
      if (n > 0)
        off += (size_t) n;
    }
  return 0;
}

/* The next line QEMU sent, '\n' and '\r' cut, into @line; events skipped. */
static int
qmp_read_line (Qmp *qmp, char *line, size_t line_len, const char *what)
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
          /* An event ("STOP" comes before stop's return), with its
           * timestamp first: not an answer. */
          if (strstr (line, "\"event\"") != NULL && strstr (line, "\"return\"") == NULL &&
              strstr (line, "\"error\"") == NULL)
            continue;
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

/* Sends @command and waits for its answer: {"return": ...}, or fails with
 * QEMU's error. */
static int
qmp_execute (Qmp *qmp, const char *command, const char *name)
{
  char line[512];

  if (qmp_send (qmp, command) != 0 || qmp_read_line (qmp, line, sizeof line, name) != 0)
    return -1;
  if (strncmp (line, "{\"return\"", 9) != 0)
    return qmp_fail (qmp, "QEMU answered %s with %s", name, line);
  return 0;
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

int
vml_fence_qmp_stop (const char *qmp_path, pid_t pid, int timeout_ms, char *why, size_t why_len)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  Qmp qmp = { .fd = -1, .deadline_ms = now_ms () + timeout_ms, .why = why,
              .why_len = why_len };
  char greeting[512];
  int rv = -1;

  if (strlen (qmp_path) >= sizeof addr.sun_path)
    return qmp_fail (&qmp, "the QMP socket path is too long");
  strcpy (addr.sun_path, qmp_path);
  qmp.fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (qmp.fd < 0)
    return qmp_fail (&qmp, "socket: %s", strerror (errno));
  /* A unix socket connects at once or fails (EAGAIN: backlog full). */
  if (connect (qmp.fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    qmp_fail (&qmp, "cannot connect to %s: %s", qmp_path, strerror (errno));
  else if (qmp_peer_ok (&qmp, pid) == 0 &&
           qmp_read_line (&qmp, greeting, sizeof greeting, "waiting for the greeting "
                          "(is another client connected to this monitor?)") == 0)
    {
      if (strncmp (greeting, "{\"QMP\"", 6) != 0)
        qmp_fail (&qmp, "not a QMP greeting: %s", greeting);
      else if (qmp_execute (&qmp, "{\"execute\": \"qmp_capabilities\"}\n",
                            "qmp_capabilities") == 0 &&
               qmp_execute (&qmp, "{\"execute\": \"stop\"}\n", "stop") == 0)
        rv = 0;
    }
  close (qmp.fd);
  return rv;
}

int
vml_fence_apply_qmp (VmlFence fence, const char *qmp_path, int pidfd, pid_t pid,
                     unsigned long long start_time, const char **via, char *why,
                     size_t why_len)
{
  if (via != NULL)
    *via = "signal";
  if (why_len > 0)
    why[0] = '\0';
  if (fence == VML_FENCE_PAUSE && qmp_path != NULL && qmp_path[0] != '\0' && pid > 0 &&
      vml_fence_qmp_stop (qmp_path, pid, VML_FENCE_QMP_TIMEOUT_MS, why, why_len) == 0)
    {
      if (via != NULL)
        *via = "qmp";
      return 0;
    }
  return vml_fence_apply (fence, pidfd, pid, start_time);
}
