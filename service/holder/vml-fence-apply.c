/* vml-fence-apply.c: see vml-fence-apply.h. Plain C: vmlease-holder
 * has no GLib. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vml-fence-apply.h"
#include "vml-qmp.h"

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

int
vml_fence_qmp_stop (const char *qmp_path, pid_t pid, int timeout_ms, char *why, size_t why_len)
{
  return vml_qmp_run (qmp_path, pid, "stop", timeout_ms, why, why_len);
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
