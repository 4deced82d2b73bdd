/* vml-lease-loss.c: a lease's holder process over its life (adopted,
 * watched; core drops it) and the loss it reports: the fence applied to the VM,
 * the state lost, Lost emitted with its reason (a holder that exited, was
 * revoked, or lost its sanlock daemon). Part of VmlLease (vml-lease-core.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "vml-fence-apply.h"
#include "vml-holder-protocol.h"
#include "vml-lease-private.h"
#include "vml-store.h"

/* ---------------------------------------------------------------------- */
/* Holder life                                                            */

static void on_holder_exited (VmlHolder *holder, int status, gpointer user_data);

typedef struct {
  VmlLease  *lease;
  VmlHolder *holder;
} LateExit;

static gboolean
report_late_exit (gpointer user_data)
{
  g_autofree LateExit *late = user_data;
  g_autoptr(VmlLease) self = late->lease;
  g_autoptr(VmlHolder) holder = late->holder;
  int status = -1;

  if (self->holder == holder && vml_holder_has_exited (holder, &status))
    on_holder_exited (holder, status, self);
  return G_SOURCE_REMOVE;
}

void
lease_adopt_holder (VmlLease *self, VmlHolder *holder)
{
  LateExit *late;

  g_return_if_fail (self->holder == NULL);

  self->holder = holder;
  g_signal_connect_object (holder, "exited", G_CALLBACK (on_holder_exited), self, 0);
  vml_holder_watch (holder);
  if (!vml_holder_has_exited (holder, NULL))
    return;
  /* It ended while nobody listened (a spare that died in the pool, a
   * holder that died before its operation was done): "exited" will not
   * come again. From the main loop's next turn, so that the caller has set
   * the state this loss then replaces. */
  late = g_new0 (LateExit, 1);
  late->lease = g_object_ref (self);
  late->holder = g_object_ref (holder);
  g_idle_add (report_late_exit, late);
}

/* Keeps a pidfd on the VM process, so the fence can never hit a process
 * that merely got the same pid later. @start_time 0: take it now. */
void
lease_watch_fence_pid (VmlLease *self, guint fence_pid, guint64 start_time)
{
  if (self->fence_pidfd >= 0)
    close (self->fence_pidfd);
  self->fence_pidfd = -1;
  self->fence_pid = fence_pid;
  self->fence_start = 0;
  if (fence_pid == 0)
    return;
  self->fence_pidfd = pidfd_open ((pid_t) fence_pid, 0);
  self->fence_start = vml_process_start_time ((pid_t) fence_pid);
  if (start_time != 0 && start_time != self->fence_start)
    {
      /* The recorded VM process is gone; this pid is someone else's. */
      if (self->fence_pidfd >= 0)
        close (self->fence_pidfd);
      self->fence_pidfd = -1;
      self->fence_start = 0;
    }
}

void
lease_take_fence_target (VmlLease *self, guint fence_pid, VmlFenceTarget *target)
{
  if (fence_pid == 0 || target->pidfd < 0)
    {
      lease_watch_fence_pid (self, fence_pid, 0);
      return;
    }
  lease_watch_fence_pid (self, 0, 0);
  self->fence_pid = fence_pid;
  self->fence_pidfd = target->pidfd;
  target->pidfd = -1;
  self->fence_start = vml_process_start_time ((pid_t) fence_pid);
}

/* A QMP fence (pause with "qmp"): QMP "stop" blocks up to its timeout,
 * so it runs in a worker thread, never on the main loop; it falls back to
 * SIGSTOP there. It gets its own copy of the pidfd: the lease may drop
 * its own meanwhile. */
typedef struct {
  char              *qmp;
  int                pidfd;
  guint              pid;
  unsigned long long start;
} QmpFence;

static void
qmp_fence_free (QmpFence *fence)
{
  if (fence->pidfd >= 0)
    close (fence->pidfd);
  g_free (fence->qmp);
  g_free (fence);
}

static void
qmp_fence_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  QmpFence *fence = task_data;
  char why[256];
  const char *via;
  int rv = vml_fence_apply_qmp (VML_FENCE_PAUSE, fence->qmp, fence->pidfd, (pid_t) fence->pid,
                                fence->start, &via, why, sizeof why);
  int saved = errno;

  if (rv == 0 && g_str_equal (via, "qmp"))
    g_task_return_pointer (task, g_strdup_printf ("guest paused with QMP stop on %s",
                                                  fence->qmp), g_free);
  else if (rv == 0)
    g_task_return_pointer (task, g_strdup_printf ("QMP stop on %s failed (%s); paused with "
                                                  "SIGSTOP instead", fence->qmp, why), g_free);
  else
    g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                             "QMP stop on %s failed (%s), and SIGSTOP too: %s", fence->qmp,
                             why, saved == ESRCH ? "the VM process had already exited"
                                                 : g_strerror (saved));
}

static void
on_qmp_fence_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  QmpFence *fence = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autofree char *done = g_task_propagate_pointer (G_TASK (result), &error);

  vml_log (error ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .message_id = error ? NULL : VML_MSGID_LEASE_FENCED),
           "Fence pause of VM process %u: %s", fence->pid, error ? error->message : done);
}

/* Whether the VM process we watch has exited. */
static gboolean
fence_pid_gone (VmlLease *self)
{
  struct pollfd pfd = { .fd = self->fence_pidfd, .events = POLLIN };

  if (self->fence_pidfd >= 0)
    return poll (&pfd, 1, 0) != 0;
  return self->fence_start == 0 ||
         vml_process_start_time ((pid_t) self->fence_pid) != self->fence_start;
}

static void
start_qmp_fence (VmlLease *self, GVariantDict *details)
{
  QmpFence *fence;
  g_autoptr(GTask) task = NULL;

  g_variant_dict_insert (details, "fence_qmp", "s", self->fence_qmp);
  if (fence_pid_gone (self))
    {
      g_variant_dict_insert (details, "fenced", "b", FALSE);
      g_variant_dict_insert (details, "fence_error", "s", "the VM process had already exited");
      vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self),
               "Fence pause of VM process %u: the VM process had already exited",
               self->fence_pid);
      return;
    }
  fence = g_new0 (QmpFence, 1);
  fence->qmp = g_strdup (self->fence_qmp);
  fence->pidfd = self->fence_pidfd >= 0 ? fcntl (self->fence_pidfd, F_DUPFD_CLOEXEC, 3) : -1;
  fence->pid = self->fence_pid;
  fence->start = self->fence_start;
  /* Under way: the journal says how it ended (QMP, or SIGSTOP after it). */
  g_variant_dict_insert (details, "fenced", "b", TRUE);
  task = g_task_new (self, NULL, on_qmp_fence_done, NULL);
  g_task_set_task_data (task, fence, (GDestroyNotify) qmp_fence_free);
  g_task_run_in_thread (task, qmp_fence_thread);
}

/* The lease is gone: the VM must stop writing before anyone else can get
 * it. Kill (SIGKILL) or pause (SIGSTOP, or QMP stop with a "qmp" socket)
 * it, as the caller chose, the way the holder does (vml-fence-apply.c).
 * Both apply it because each is the only one there in some losses:
 * vmleased when the holder cannot (it crashed or was killed, or the
 * storage failed), the holder when sanlock revoked the lease or its daemon
 * went away (vmleased may not be running then, and sanlock frees a revoked
 * lease only once the holder exits). After those, this applies it a
 * second time: no change where the holder's fence took, a second chance
 * where it did not. */
static void
apply_fence (VmlLease *self, GVariantDict *details)
{
  const char *error = NULL;

  /* a QMP fence needs the monitor that prepare {resume} may hold */
  g_clear_pointer (&self->transfer_qmp, vml_qmp_close);
  g_variant_dict_insert (details, "fence", "s", vml_fence_to_string (self->fence));
  if (self->fence == VML_FENCE_NONE || self->fence_pid == 0)
    {
      g_variant_dict_insert (details, "fenced", "b", FALSE);
      return;
    }
  if (self->fence == VML_FENCE_PAUSE && self->fence_qmp != NULL)
    {
      start_qmp_fence (self, details);
      return;
    }
  if (vml_fence_apply (self->fence, self->fence_pidfd, (pid_t) self->fence_pid,
                       self->fence_start) != 0)
    error = self->fence_pidfd < 0 || errno == ESRCH ? "the VM process had already exited"
                                                    : g_strerror (errno);
  g_variant_dict_insert (details, "fenced", "b", error == NULL);
  if (error != NULL)
    g_variant_dict_insert (details, "fence_error", "s", error);
  vml_log (error ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .message_id = error ? NULL : VML_MSGID_LEASE_FENCED),
           "Fence %s of VM process %u: %s",
           vml_fence_to_string (self->fence), self->fence_pid, error ? error : "done");
}

/* The first half of a loss: the VM fenced, the state lost, at once. The
 * details of what was done go into @details for the Lost signal. */
static void
enter_lost (VmlLease *self, pid_t holder_pid, GVariantDict *details)
{
  g_variant_dict_init (details, NULL);
  /* One unit: whatever went, the rest goes too, fenced once (a disk
   * holder's own SIGTERM fence meets a VM fenced already). */
  lease_disks_kill_all (self);
  apply_fence (self, details);
  {
    /* Everything that went, and the first of it alone as before. */
    g_auto(GStrv) resources = g_strsplit (self->lost_resource ? self->lost_resource : "lease",
                                          " ", 0);
    g_auto(GStrv) keys = g_strsplit (self->lost_disk ? self->lost_disk : "", " ", 0);

    g_variant_dict_insert (details, "resource", "s", resources[0]);
    g_variant_dict_insert_value (details, "resources",
                                 g_variant_new_strv ((const char *const *) resources, -1));
    if (keys[0] != NULL)
      {
        g_variant_dict_insert (details, "disk", "s", keys[0]);
        g_variant_dict_insert_value (details, "disks",
                                     g_variant_new_strv ((const char *const *) keys, -1));
      }
  }
  g_clear_pointer (&self->lost_resource, g_free);
  g_clear_pointer (&self->lost_disk, g_free);
  g_variant_dict_insert (details, "holder_pid", "u", (guint) holder_pid);
  g_variant_dict_insert (details, "fence_pid", "u", self->fence_pid);
  g_variant_dict_insert (details, "host_id", "t", vml_lockspace_get_host_id (self->lockspace));
  g_variant_dict_insert (details, "time", "t", (guint64) g_get_real_time ());
  lease_set_state (self, LEASE_LOST);
  lease_publish_holding (self);
  lease_save_or_warn (self);
}

/* The second half: what happened, said. Takes @details. */
static void
emit_lost (VmlLease *self, const char *reason, GVariantDict *details, const char *why)
{
  guint holder_pid = 0;

  g_variant_dict_lookup (details, "holder_pid", "u", &holder_pid);
  g_variant_dict_insert (details, "message", "s", why);
  vml_log (G_LOG_LEVEL_WARNING,
           LEASE_ABOUT (self, .holder_pid = (int) holder_pid,
                        .message_id = VML_MSGID_LEASE_LOST),
           "Lease lost (%s): %s", reason, why);
  vml_dbus_lease_emit_lost (self->iface, reason, g_variant_dict_end (details));
}

void
lease_report_lost (VmlLease *self, const char *reason, pid_t holder_pid, const char *why)
{
  GVariantDict details;

  enter_lost (self, holder_pid, &details);
  emit_lost (self, reason, &details, why);
}

static void
explain_revocation_thread (GTask *task, gpointer source, gpointer task_data,
                           GCancellable *cancellable)
{
  g_task_return_boolean (task, vml_lockspace_failed_here (VML_LEASE (source)->lockspace));
}

static void
on_revocation_explained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  g_autofree GVariantDict *details = user_data;

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    {
      emit_lost (self, "lockspace-failed", details,
                 "this host could not renew its lockspace on storage; sanlock revoked "
                 "the lease and the holder fenced the VM process first");
      vml_lockspace_mark_lost (self->lockspace, "this host could not renew its host lease on "
                               "storage, and sanlock gave the lockspace up");
    }
  else
    emit_lost (self, "revoked", details,
               "another host took the lease (a seize); the holder fenced the VM "
               "process first");
}

#define SANLOCK_GONE_WHY "the sanlock daemon closed its connections (it died or was stopped)"

void
lease_report_holder_end (VmlLease *self, pid_t pid, int status, const char *when)
{
  gboolean fenced = FALSE;
  int noted = -1;

  /* Not our child (adopted after a restart), or ended while we were not
   * running: the holder's note tells its exit status. Taken (removed) in
   * any case, so that no later holder with a recycled pid finds it. */
  if (vml_store_take_note (self->store, self->uuid, pid, &noted, &fenced) && status < 0)
    status = noted;
  if (status == VML_HOLDER_EXIT_REVOKED)
    {
      /* Revoked: by another host's seize, or because this host could not
       * renew its lockspace on storage? The local sanlock daemon knows; the
       * state does not wait for the answer. */
      GVariantDict *details = g_new0 (GVariantDict, 1);
      g_autoptr(GTask) task = NULL;

      enter_lost (self, pid, details);
      task = g_task_new (self, NULL, on_revocation_explained, details);
      g_task_run_in_thread (task, explain_revocation_thread);
    }
  else if (status == VML_HOLDER_EXIT_DAEMON_GONE)
    {
      g_autofree char *why = g_strdup_printf ("%s%s; the lease went with it, and the holder "
                                              "fenced the VM process itself", SANLOCK_GONE_WHY,
                                              when);
      lease_report_lost (self, "sanlock-gone", pid, why);
      vml_lockspace_mark_lost_with_daemon (self->lockspace,
                                           "the sanlock daemon is gone: " SANLOCK_GONE_WHY);
    }
  else
    {
      g_autofree char *why = g_strdup_printf ("the holder process ended without a release%s; "
                                              "sanlock dropped the lease", when);
      lease_report_lost (self, "holder-exited", pid, why);
    }
}

/* A holder's note that no report will read (the lease was let go or lost
 * already): removed, so that notes do not pile up. */
static void
discard_note (VmlLease *self, pid_t pid)
{
  int status;
  gboolean fenced;

  vml_store_take_note (self->store, self->uuid, pid, &status, &fenced);
}

/* The holder ended without being asked to: whatever sanlock held for it
 * is gone, so the lease is lost here at once, whatever operation is queued
 * or running (that one finds self->losses moved and keeps nothing). */
static void
on_holder_exited (VmlHolder *holder, int status, gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  pid_t pid = vml_holder_get_pid (holder);

  lease_drop_holder (self);
  lease_publish_holding (self);
  /* The source after perform holds nothing: a new holder takes it back if
   * the hand-off fails. */
  if (vml_transfer_source_let_go (&self->transfer) || !lease_state_has_holder (self->state))
    {
      discard_note (self, pid);   /* let go, or releasing: the lease goes anyway */
      return;
    }
  self->losses++;
  lease_transfer_clear (self);
  lease_report_holder_end (self, pid, status, "");
}

/* A disk holder ended without being asked to: its disks are gone, so the
 * whole unit is lost. The VM lease's holder is told to stop at once
 * (SIGTERM: it fences the VM, again, and sanlock frees the VM lease), and
 * so is every other disk holder (enter_lost). */
static void
on_disk_holder_exited (VmlHolder *holder, int status, gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  g_autoptr(VmlHolder) gone = g_object_ref (holder);
  pid_t pid = vml_holder_get_pid (holder);
  g_autofree char *why = NULL;
  g_autoptr(GString) names = g_string_new (NULL);
  g_autoptr(GString) keys = g_string_new (NULL);

  g_signal_handlers_disconnect_by_data (holder, self);
  /* Every disk it kept went with it. */
  for (guint i = 0; i < self->disks->len; i++)
    {
      LeaseDisk *disk = self->disks->pdata[i];

      if (disk->holder != holder)
        continue;
      g_string_append_printf (names, "%s%s", names->len ? " " : "", disk->name);
      g_string_append_printf (keys, "%s%s", keys->len ? " " : "", disk->key);
    }
  g_ptr_array_remove (self->disk_holders, holder);
  if (names->len == 0 || !lease_state_has_holder (self->state))
    {
      discard_note (self, pid);   /* it kept nothing, or the lease goes anyway */
      return;
    }
  self->losses++;
  g_free (self->lost_resource);
  self->lost_resource = g_strdup (names->str);
  g_free (self->lost_disk);
  self->lost_disk = g_strdup (keys->str);
  why = g_strdup_printf (" (the holder of disk(s) %s; the VM lease and its other disks "
                         "were let go with it)", keys->str);
  if (self->holder != NULL)
    {
      g_autoptr(VmlHolder) lease_holder = g_object_ref (self->holder);

      lease_drop_holder (self);
      vml_holder_revoke (lease_holder);
      lease_publish_holding (self);
    }
  lease_transfer_clear (self);
  lease_report_holder_end (self, pid, status, why);
}

void
lease_adopt_disk_holder (VmlLease *self, VmlHolder *holder)
{
  g_signal_connect_object (holder, "exited", G_CALLBACK (on_disk_holder_exited), self, 0);
  vml_holder_watch (holder);
  if (vml_holder_has_exited (holder, NULL))
    {
      int status = -1;

      vml_holder_has_exited (holder, &status);
      on_disk_holder_exited (holder, status, self);
    }
}
