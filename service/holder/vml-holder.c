/* vml-holder.c: see vml-holder.h. The lines it writes to a holder and
 * reads from it are vml-holder-protocol.h's.
 *
 * The process is watched through a pidfd rather than a child watch because
 * after a restart of vmleased the holders are no longer its children. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <unistd.h>
#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include "vml-error.h"
#include "vml-holder.h"
#include "vml-holder-protocol.h"
#include "vml-log.h"
#include "vml-sanlock.h"

#define HOLDER_READY_TIMEOUT_MS 10000

struct _VmlHolder {
  GObject        parent_instance;
  pid_t          pid;
  guint64        start_time;
  GOutputStream *claim_pipe;   /* its stdin; none for adopted holders */
  GSubprocess   *process;      /* if started by this vmleased: gives the exit status */
  gboolean       claimed;      /* told "claim" or "lock" (and not "spare" since) */
  int            pidfd;
  gint         stopping;   /* atomic: exit was asked for, not a loss */
  gboolean     exited;     /* a watch saw it end (main loop) */
  int          exit_status;
  gint         counted;    /* atomic: a Counted, until told to go or gone */
  gboolean     watching_child;
  GSource     *watch;
};

G_DEFINE_TYPE (VmlHolder, vml_holder, G_TYPE_OBJECT)

/* ---- the ceiling ------------------------------------------------------ */

typedef enum { NOT_COUNTED, COUNTED_LEASE, COUNTED_LOCK } Counted;

static GMutex count_lock;
static guint  lease_holders;
static guint  ceiling = VML_HOLDER_CEILING_DEFAULT;
static char  *ceiling_config;

void
vml_holder_set_ceiling (guint max_leases, const char *config)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&count_lock);

  ceiling = max_leases;
  g_free (ceiling_config);
  ceiling_config = g_strdup (config);
}

/* Under count_lock. */
static gboolean
fits (VmlHolderUse use)
{
  switch (use)
    {
    case VML_HOLDER_FOR_LEASE: return lease_holders < ceiling;
    case VML_HOLDER_FOR_SPARE: return lease_holders + 1 < ceiling;
    case VML_HOLDER_FOR_LOCK:  return TRUE;
    default:                   g_return_val_if_reached (FALSE);
    }
}

gboolean
vml_holder_fits (VmlHolderUse use)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&count_lock);

  return fits (use);
}

static gboolean
fail_ceiling (GError **error)
{
  g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
               "this host keeps %u lease holders (held leases, a spare, hand-offs), its "
               "ceiling (max_leases=%u in [daemon] of %s); release a lease here, or raise "
               "max_leases (at most %u) and restart vmleased", lease_holders, ceiling,
               ceiling_config ? ceiling_config : "the configuration", VML_HOLDER_CEILING_MAX);
  return FALSE;
}

/* Counts @self before its process starts, so that no two threads start the
 * holder that would pass the ceiling. @force: it runs already (adopted). */
static gboolean
count_holder (VmlHolder *self, VmlHolderUse use, gboolean force, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&count_lock);
  gboolean for_lease = use != VML_HOLDER_FOR_LOCK;

  if (!force && !fits (use))
    return fail_ceiling (error);
  if (!vml_sanlock_clients_reserve (for_lease ? "a lease holder" : "a lock holder", error))
    return FALSE;
  if (for_lease)
    lease_holders++;
  g_atomic_int_set (&self->counted, for_lease ? COUNTED_LEASE : COUNTED_LOCK);
  return TRUE;
}

/* Once told to go, or gone: it holds nothing, and its sanlock entry goes
 * with its process within milliseconds. Idempotent. */
static void
uncount_holder (VmlHolder *self)
{
  Counted was = g_atomic_int_exchange (&self->counted, NOT_COUNTED);

  if (was == NOT_COUNTED)
    return;
  vml_sanlock_clients_unreserve ();
  if (was == COUNTED_LEASE)
    {
      g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&count_lock);
      lease_holders--;
    }
}

enum { SIGNAL_EXITED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
vml_holder_dispose (GObject *object)
{
  VmlHolder *self = VML_HOLDER (object);

  if (self->watch)
    {
      g_source_destroy (self->watch);
      g_clear_pointer (&self->watch, g_source_unref);
    }
  G_OBJECT_CLASS (vml_holder_parent_class)->dispose (object);
}

static void
vml_holder_finalize (GObject *object)
{
  VmlHolder *self = VML_HOLDER (object);

  uncount_holder (self);
  if (self->pidfd >= 0)
    close (self->pidfd);
  g_clear_object (&self->claim_pipe);
  g_clear_object (&self->process);
  G_OBJECT_CLASS (vml_holder_parent_class)->finalize (object);
}

static void
vml_holder_class_init (VmlHolderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vml_holder_dispose;
  object_class->finalize = vml_holder_finalize;

  /* "exited" (int status): the holder process ended without being asked
   * to; status is its exit status, or -1 when unknown (killed by a signal,
   * or adopted after a restart, so not our child). */
  signals[SIGNAL_EXITED] = g_signal_new ("exited", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
vml_holder_init (VmlHolder *self)
{
  self->pidfd = -1;
}

/* Without pidfds (kernels before 5.3, valgrind 3.19) the holder is
 * followed by pid and start time instead, which /proc gives anyone. */
static gboolean
open_pidfd (VmlHolder *self, GError **error)
{
  self->pidfd = pidfd_open (self->pid, 0);
  if (self->pidfd >= 0 || errno == ENOSYS)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
               "cannot watch holder process %d: %s", (int) self->pid, g_strerror (errno));
  return FALSE;
}

/* Fallback liveness: the same process (start time) and not a zombie. */
static gboolean
alive_by_proc (pid_t pid, guint64 start_time)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *after_comm;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  after_comm = strrchr (stat, ')');
  if (after_comm == NULL || after_comm[1] == '\0' || after_comm[2] == 'Z')
    return FALSE;
  return start_time == 0 || vml_process_start_time (pid) == start_time;
}

static int
signal_holder (VmlHolder *self, int signo)
{
  if (self->pidfd >= 0)
    return pidfd_send_signal (self->pidfd, signo, NULL, 0);
  if (!alive_by_proc (self->pid, self->start_time))
    {
      errno = ESRCH;
      return -1;
    }
  return kill (self->pid, signo);
}

/* Reads the holder's one status line ("ready" or "error <text>"), giving up
 * after @timeout_ms so a hung sanlock daemon cannot hang the worker. */
static char *
read_status_line (int fd, guint timeout_ms, GError **error)
{
  g_autoptr(GString) line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      char c;
      ssize_t n;

      if (left_ms <= 0 || poll (&pfd, 1, (int) left_ms) == 0)
        {
          g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                       "the lease holder did not register with sanlock within %u s; "
                       "is the sanlock daemon running?", timeout_ms / 1000);
          return NULL;
        }
      n = read (fd, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || c == '\n')
        break;
      g_string_append_c (line, c);
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

static gboolean
wait_until_ready (GSubprocess *process, GError **error)
{
  GInputStream *out = g_subprocess_get_stdout_pipe (process);
  int fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (out));
  g_autofree char *status = read_status_line (fd, HOLDER_READY_TIMEOUT_MS, error);

  if (status == NULL)
    return FALSE;
  if (g_str_equal (status, VML_HOLDER_SAY_READY))
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
               "the lease holder could not start: %s",
               *status ? status : "it exited without saying why (see the log)");
  return FALSE;
}

VmlHolder *
vml_holder_spawn (const char *holder_path, VmlHolderUse use, GError **error)
{
  g_autoptr(VmlHolder) self = g_object_new (VML_TYPE_HOLDER, NULL);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *argv[] = { holder_path, NULL };

  if (!count_holder (self, use, FALSE, error))
    return NULL;

  /* INHERIT_FDS lets GLib use posix_spawn (no fd-closing child setup): the
   * holder closes every descriptor but stdio itself, first thing. */
  process = g_subprocess_newv (argv,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_INHERIT_FDS, &local_error);
  if (process == NULL)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "cannot start the lease holder %s: %s", holder_path, local_error->message);
      return NULL;
    }
  /* No identifier: the child exited (and was reaped) already; its one
   * line says why. */
  if (g_subprocess_get_identifier (process) == NULL)
    {
      if (wait_until_ready (process, error))
        g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                     "the lease holder %s exited as soon as it started", holder_path);
      return NULL;
    }
  self->pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (process), NULL, 10);
  if (!open_pidfd (self, error) || !wait_until_ready (process, error))
    {
      g_subprocess_force_exit (process);
      return NULL;
    }
  self->start_time = vml_process_start_time (self->pid);
  self->claim_pipe = g_object_ref (g_subprocess_get_stdin_pipe (process));
  self->process = g_object_ref (process);
  /* GSubprocess keeps reaping the child after we drop our reference. */
  return g_steal_pointer (&self);
}

/* A few dozen bytes into a pipe the holder drains: this does not block. */
static gboolean
tell_holder (VmlHolder *self, const char *line, GError **error)
{
  /* The holder takes longer lines for garbage, and exits. */
  g_return_val_if_fail (strlen (line) <= VML_HOLDER_LINE_MAX, FALSE);
  if (self->claim_pipe == NULL)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "the lease holder %d takes no more instructions", (int) self->pid);
      return FALSE;
    }
  if (!g_output_stream_write_all (self->claim_pipe, line, strlen (line), NULL, NULL, error))
    {
      g_clear_object (&self->claim_pipe);
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_holder_claim (VmlHolder *self, const char *uuid, VmlFence fence, guint fence_pid,
                  const char *qmp, GError **error)
{
  g_autofree char *line = g_strdup_printf (VML_HOLDER_CMD_CLAIM " %s %s %u%s%s\n", uuid,
                                           vml_fence_name (fence), fence_pid,
                                           qmp ? " " : "", qmp ? qmp : "");
  g_autoptr(GError) local_error = NULL;

  if (!tell_holder (self, line, &local_error))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "the lease holder %d could not be given its lease: %s",
                   (int) self->pid, local_error->message);
      return FALSE;
    }
  self->claimed = TRUE;
  return TRUE;
}

gboolean
vml_holder_set_fence (VmlHolder *self, VmlFence fence, guint fence_pid, const char *qmp,
                      GError **error)
{
  g_autofree char *line = g_strdup_printf (VML_HOLDER_CMD_FENCE " %s %u%s%s\n",
                                           vml_fence_name (fence), fence_pid,
                                           qmp ? " " : "", qmp ? qmp : "");
  g_autoptr(GError) local_error = NULL;

  if (!self->claimed || self->claim_pipe == NULL || !tell_holder (self, line, &local_error))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
                   "the lease holder %d could not be given its new fence target: %s",
                   (int) self->pid, local_error ? local_error->message
                                                : "it was adopted after a restart of vmleased");
      return FALSE;
    }
  return TRUE;
}

gboolean
vml_holder_claim_lock (VmlHolder *self, const char *name, GError **error)
{
  g_autofree char *line = g_strdup_printf (VML_HOLDER_CMD_LOCK " %s\n", name);

  if (!tell_holder (self, line, error))
    return FALSE;
  self->claimed = TRUE;
  return TRUE;
}

gboolean
vml_holder_unclaim (VmlHolder *self)
{
  if (!vml_holder_is_alive (self) || self->claim_pipe == NULL)
    return FALSE;
  /* Never claimed (its operation ended before it got that far): a spare
   * still. Told "spare" out of turn, it would take the line for garbage,
   * log "bad line from vmleased" and exit. */
  if (self->claimed && !tell_holder (self, VML_HOLDER_CMD_SPARE "\n", NULL))
    return FALSE;
  self->claimed = FALSE;
  return TRUE;
}

/* argv[0] from /proc/PID/cmdline (not /proc/PID/exe: reading that needs
 * ptrace rights over the holder, which a vmleased with fewer capabilities
 * than the one that started it lacks). With the start time and sanlock's
 * own answer, that is enough to recognise our holder. */
static gboolean
is_holder_program (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *cmdline = NULL;

  return g_file_get_contents (path, &cmdline, NULL, NULL) &&
         (g_str_equal (cmdline, "vmlease-holder") || g_str_has_suffix (cmdline, "/vmlease-holder"));
}

GArray *
vml_holder_find_running (void)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  while (proc != NULL && (entry = g_dir_read_name (proc)) != NULL)
    {
      guint64 pid;

      if (g_ascii_string_to_unsigned (entry, 10, 1, G_MAXINT32, &pid, NULL) &&
          (pid_t) pid != getpid () && is_holder_program ((pid_t) pid))
        {
          pid_t p = (pid_t) pid;
          g_array_append_val (pids, p);
        }
    }
  return pids;
}

VmlHolder *
vml_holder_adopt (pid_t pid, guint64 start_time, GError **error)
{
  g_autoptr(VmlHolder) self = g_object_new (VML_TYPE_HOLDER, NULL);
  g_autoptr(GError) local_error = NULL;

  self->pid = pid;
  if (pid <= 0 || !open_pidfd (self, NULL) || !is_holder_program (pid) ||
      (start_time != 0 && vml_process_start_time (pid) != start_time))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_NOT_FOUND,
                   "process %d is no longer the lease holder (it exited)", (int) pid);
      return NULL;
    }
  self->start_time = start_time;
  /* It runs already, whatever the ceiling says now. */
  if (!count_holder (self, VML_HOLDER_FOR_LEASE, TRUE, &local_error))
    vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .holder_pid = pid },
             "Adopted holder %d is not counted: %s", (int) pid, local_error->message);
  return g_steal_pointer (&self);
}

pid_t
vml_holder_get_pid (VmlHolder *self)
{
  return self->pid;
}

guint64
vml_holder_get_start_time (VmlHolder *self)
{
  return self->start_time;
}

gboolean
vml_holder_is_alive (VmlHolder *self)
{
  struct pollfd pfd = { .fd = self->pidfd, .events = POLLIN };

  if (self->pidfd < 0)
    return alive_by_proc (self->pid, self->start_time);
  /* A pidfd becomes readable when the process exits. */
  return poll (&pfd, 1, 0) == 0;
}

static void
emit_exited (VmlHolder *self, int status)
{
  self->exited = TRUE;
  self->exit_status = status;
  uncount_holder (self);
  if (!g_atomic_int_get (&self->stopping))
    g_signal_emit (self, signals[SIGNAL_EXITED], 0, status);
}

static void
on_child_waited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VmlHolder) self = user_data;
  GSubprocess *process = G_SUBPROCESS (source);

  if (!g_subprocess_wait_finish (process, result, NULL))
    return;
  emit_exited (self, g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process)
                                                          : -1);
}

static gboolean
on_pidfd_readable (int fd, GIOCondition condition, gpointer user_data)
{
  VmlHolder *self = VML_HOLDER (user_data);

  g_clear_pointer (&self->watch, g_source_unref);
  emit_exited (self, -1);
  return G_SOURCE_REMOVE;
}

static gboolean
on_poll_alive (gpointer user_data)
{
  VmlHolder *self = VML_HOLDER (user_data);

  if (vml_holder_is_alive (self))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&self->watch, g_source_unref);
  emit_exited (self, -1);
  return G_SOURCE_REMOVE;
}

void
vml_holder_watch (VmlHolder *self)
{
  if (self->watch != NULL || self->watching_child)
    return;   /* already watched (a spare handed on from the pool) */

  if (self->process != NULL)
    {
      /* Our own child: its exit status tells a revocation from a crash. */
      self->watching_child = TRUE;
      g_subprocess_wait_async (self->process, NULL, on_child_waited, g_object_ref (self));
      return;
    }
  if (self->pidfd < 0)
    {
      /* No pidfd and not our child: look once a second. */
      self->watch = g_timeout_source_new_seconds (1);
      g_source_set_callback (self->watch, G_SOURCE_FUNC (on_poll_alive), self, NULL);
    }
  else
    {
      self->watch = g_unix_fd_source_new (self->pidfd, G_IO_IN);
      g_source_set_callback (self->watch, G_SOURCE_FUNC (on_pidfd_readable), self, NULL);
    }
  g_source_attach (self->watch, NULL);
}

gboolean
vml_holder_has_exited (VmlHolder *self, int *status)
{
  if (self->exited && status != NULL)
    *status = self->exit_status;
  return self->exited;
}

void
vml_holder_terminate (VmlHolder *self)
{
  g_atomic_int_set (&self->stopping, TRUE);
  uncount_holder (self);
  /* Ours, and it holds nothing: say so and close its stdin. A spare whose
   * stdin ends exits 0 at once, without the signal that would make it ask
   * sanlock whether it is being revoked. */
  if (self->claim_pipe != NULL &&
      (!self->claimed || tell_holder (self, VML_HOLDER_CMD_SPARE "\n", NULL)))
    {
      g_output_stream_close (self->claim_pipe, NULL, NULL);
      g_clear_object (&self->claim_pipe);
      return;
    }
  /* pidfd (or pid + start time), so a pid recycled since cannot be hit. */
  if (signal_holder (self, SIGTERM) != 0 && errno != ESRCH)
    vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .holder_pid = self->pid },
             "Cannot stop holder %d: %s", (int) self->pid, g_strerror (errno));
}

void
vml_holder_revoke (VmlHolder *self)
{
  g_atomic_int_set (&self->stopping, TRUE);
  if (signal_holder (self, SIGTERM) != 0 && errno != ESRCH)
    vml_log (G_LOG_LEVEL_WARNING, &(VmlLogAbout){ .holder_pid = self->pid },
             "Cannot stop holder %d: %s", (int) self->pid, g_strerror (errno));
}

gboolean
vml_holder_stop (VmlHolder *self, guint timeout_ms)
{
  struct pollfd pfd = { .fd = self->pidfd, .events = POLLIN };
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  vml_holder_terminate (self);
  if (self->pidfd >= 0)
    return poll (&pfd, 1, (int) timeout_ms) == 1;
  while (vml_holder_is_alive (self) && g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  return !vml_holder_is_alive (self);
}
