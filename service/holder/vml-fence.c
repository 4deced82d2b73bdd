/* vml-fence.c: see vml-fence.h. Like the checks in vml-options.c, these
 * run on the main loop before an operation is queued. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "vml-error.h"
#include "vml-fence.h"

static const char *const mode_names[] = {
  [VML_MODE_EXCLUSIVE] = "exclusive",
  [VML_MODE_SHARED] = "shared",
};

/* What the valid values are, for a message: "'a', 'b', 'c'". */
static char *
valid_names (const char *(*name_of) (guint value), guint n_values)
{
  g_autoptr(GString) valid = g_string_new (NULL);

  for (guint i = 0; i < n_values; i++)
    g_string_append_printf (valid, "%s'%s'", i ? ", " : "", name_of (i));
  return g_string_free (g_steal_pointer (&valid), FALSE);
}

static gboolean
fail_unknown (const char *what, const char *str, const char *(*name_of) (guint value),
              guint n_values, GError **error)
{
  g_autofree char *valid = valid_names (name_of, n_values);

  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "unknown %s '%s'; use one of %s", what, str, valid);
  return FALSE;
}

static const char *
mode_name (guint value)
{
  return mode_names[value];
}

static const char *
fence_name (guint value)
{
  return vml_fence_name ((VmlFence) value);
}

gboolean
vml_mode_from_string (const char *str, VmlMode *mode, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (mode_names); i++)
    if (g_str_equal (mode_names[i], str))
      {
        *mode = i;
        return TRUE;
      }
  return fail_unknown ("mode", str, mode_name, G_N_ELEMENTS (mode_names), error);
}

const char *
vml_mode_to_string (VmlMode mode)
{
  g_return_val_if_fail (mode < G_N_ELEMENTS (mode_names), "");
  return mode_names[mode];
}

gboolean
vml_fence_from_string (const char *str, VmlFence *fence, GError **error)
{
  if (vml_fence_from_name (str, fence))
    return TRUE;
  return fail_unknown ("fence action", str, fence_name, VML_FENCE_N, error);
}

const char *
vml_fence_to_string (VmlFence fence)
{
  g_return_val_if_fail (fence < VML_FENCE_N, "");
  return vml_fence_name (fence);
}

/* Linux's PID_MAX_LIMIT: no pid is ever larger. A u32 from the bus can be
 * (4294967295 is -1 as a pid_t, and kill (-1, 0) succeeds for root). */
#define VML_PID_MAX 4194304

gboolean
vml_check_fence_pid (guint pid, GError **error)
{
  if (pid < 1 || pid > VML_PID_MAX)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "pid %u is not a process id (1 to %d)", pid, VML_PID_MAX);
      return FALSE;
    }
  if (kill ((pid_t) pid, 0) != 0 && errno == ESRCH)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "pid %u names no running process", pid);
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_check_qmp_path (const char *path, GError **error)
{
  struct sockaddr_un addr;

  if (!g_path_is_absolute (path))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "QMP socket path '%s' must be absolute", path);
      return FALSE;
    }
  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "QMP socket path is %zu bytes long; a unix socket path has at most %zu",
                   strlen (path), sizeof addr.sun_path - 1);
      return FALSE;
    }
  for (const char *p = path; *p; p++)
    if (g_ascii_isspace (*p) || g_ascii_iscntrl (*p))
      {
        g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                     "QMP socket path '%s' must not contain blanks or control characters",
                     path);
        return FALSE;
      }
  return TRUE;
}

gboolean
vml_fence_options_parse (GVariant *options, VmlFence *fence, guint *pid, char **qmp,
                         GError **error)
{
  const char *str, *path = NULL;

  *pid = 0;
  *qmp = NULL;
  g_variant_lookup (options, "pid", "u", pid);
  *fence = *pid != 0 ? VML_FENCE_KILL : VML_FENCE_NONE;
  if (g_variant_lookup (options, "fence", "&s", &str) && !vml_fence_from_string (str, fence, error))
    return FALSE;
  if (*fence != VML_FENCE_NONE && *pid == 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "fence '%s' needs the VM's process id in option 'pid'",
                   vml_fence_to_string (*fence));
      return FALSE;
    }
  if (g_variant_lookup (options, "qmp", "&s", &path))
    {
      /* the VM's own monitor: a pause fence stops the guest through it,
       * and Transfer finish's resume starts it */
      if (*pid == 0)
        {
          g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                               "option 'qmp' names the QMP socket of the VM process: it needs "
                               "that process's id in option 'pid'");
          return FALSE;
        }
      if (!vml_check_qmp_path (path, error))
        return FALSE;
    }
  if (*pid != 0 && !vml_check_fence_pid (*pid, error))
    return FALSE;
  *qmp = g_strdup (path);
  return TRUE;
}

/* Real and saved uid from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"). */
static gboolean
read_uids (guint pid, guint *real, guint *saved)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/status", pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL) ||
      (line = strstr (status, "\nUid:")) == NULL)
    return FALSE;
  return sscanf (line + 5, "%u %*u %u", real, saved) == 2;
}

gboolean
vml_fence_target_open (guint pid, VmlFenceTarget *target, GError **error)
{
  struct pollfd pfd = { .events = POLLIN };

  target->pidfd = pidfd_open ((pid_t) pid, 0);
  if (target->pidfd < 0 && errno != ENOSYS)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "pid %u names no running process", pid);
      return FALSE;
    }
  pfd.fd = target->pidfd;
  /* Read the uids, then look that the pidfd's process still runs: so they
   * are its own, not those of a process that got its pid since. */
  if (!read_uids (pid, &target->real_uid, &target->saved_uid) ||
      (target->pidfd >= 0 && poll (&pfd, 1, 0) != 0))
    {
      vml_fence_target_close (target);
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "pid %u names no running process", pid);
      return FALSE;
    }
  return TRUE;
}

void
vml_fence_target_close (VmlFenceTarget *target)
{
  if (target->pidfd >= 0)
    close (target->pidfd);
  target->pidfd = -1;
}

gboolean
vml_fence_target_signalable_by (const VmlFenceTarget *target, guint uid)
{
  return uid == 0 || uid == target->real_uid || uid == target->saved_uid;
}
