/* vml-lease-release.c: VmlLease's Release, and the drop that removing its
 * lockspace with force imposes (then the lease is reported lost, and its VM
 * fenced). Releasing ends the holder, and the disk leases with their
 * holders. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"

typedef struct {
  VmlHolder *holder;
  GPtrArray *disks;   /* copies of the lease's */
} ReleaseWork;

static void
release_work_free (ReleaseWork *work)
{
  g_object_unref (work->holder);
  g_ptr_array_unref (work->disks);
  g_free (work);
}

static void
release_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  ReleaseWork *work = task_data;
  VmlHolder *holder = work->holder;
  GError *error = NULL;
  gboolean ok;

  /* The disks first: the VM lease is the last to go, so nobody else takes
   * the VM while a disk of it is still held here. */
  if (!lease_disks_let_go (self, work->disks, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  ok = lease_sanlock_release (self->sanlock, holder, &error);

  /* A holder that died meanwhile took the lease with it: released anyway. */
  if (!ok && vml_holder_is_alive (holder))
    {
      g_task_return_error (task, error);
      return;
    }
  g_clear_error (&error);
  g_task_return_boolean (task, TRUE);
}

/* A release asked for by a caller (lost_reason NULL), or forced on the
 * lease by removing its lockspace (then it is reported lost and fenced). */
typedef struct {
  LeaseState  previous;
  const char *lost_reason;
} ReleaseData;

static void
on_released (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  g_autofree ReleaseData *data = user_data;
  ReleaseWork *work = g_task_get_task_data (G_TASK (result));
  VmlHolder *holder = work->holder;   /* self->holder may be gone */
  pid_t holder_pid = vml_holder_get_pid (holder);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      /* Back to held, unless the holder died meanwhile (then it is lost). */
      lease_set_state (self, self->holder ? data->previous : LEASE_LOST);
      lease_finish_op (self, NULL, error);
      return;
    }
  /* Releasing ends the holder: one process per held lease, never reused
   * for another lease. It holds nothing now, so it need not be waited for. */
  vml_holder_terminate (holder);
  lease_drop_holder (self);
  g_ptr_array_set_size (self->disks, 0);
  lease_disks_end_idle_holders (self);
  lease_disks_publish (self);
  vml_dbus_lease_set_owner (self->iface, 0);
  if (data->lost_reason != NULL)
    {
      lease_report_lost (self, data->lost_reason, holder_pid,
                         "its lockspace was removed from this host with force");
      lease_finish_op (self, NULL, NULL);
      return;
    }
  lease_watch_fence_pid (self, 0, 0);
  self->fence = VML_FENCE_NONE;
  g_clear_pointer (&self->fence_qmp, g_free);
  lease_set_state (self, LEASE_FREE);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  vml_log (G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .holder_pid = holder_pid, .message_id = VML_MSGID_LEASE_RELEASED),
           "Lease released");
  lease_finish_op (self, NULL, NULL);
}

static void
start_release (VmlLease *self, GTask *op)
{
  g_autoptr(GTask) task = NULL;
  ReleaseData *data;

  if (self->transfer.role != TRANSFER_NONE)
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_WRONG_STEP,
                                    "the lease of %s is in a hand-off (%s); Transfer cancel "
                                    "it (or finish it) first", self->uuid,
                                    lease_state_names[self->state]));
      return;
    }
  if (!lease_state_is_held (self->state) || self->holder == NULL)
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_NOT_HELD,
                                    "the lease of %s is not held on this host (it is %s)",
                                    self->uuid, lease_state_names[self->state]));
      return;
    }
  data = g_new0 (ReleaseData, 1);
  data->previous = self->state;
  data->lost_reason = g_task_get_task_data (op);
  task = g_task_new (self, NULL, on_released, data);
  {
    ReleaseWork *work = g_new0 (ReleaseWork, 1);

    work->holder = g_object_ref (self->holder);
    work->disks = lease_disks_copy (self->disks);
    g_task_set_task_data (task, work, (GDestroyNotify) release_work_free);
  }
  lease_set_state (self, LEASE_RELEASING);
  g_task_run_in_thread (task, release_thread);
}

static const VmlOptionSpec no_options[] = { { NULL } };

void
lease_release_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (!vml_options_check (options, "Release", no_options, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  lease_enqueue_op (self, lease_invocation_task (self, invocation, uid), start_release);
}

void
vml_lease_drop_async (VmlLease *self, const char *reason, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  GTask *op = g_task_new (self, NULL, callback, user_data);

  g_task_set_task_data (op, (gpointer) reason, NULL);
  lease_enqueue_op (self, op, start_release);
}

gboolean
vml_lease_drop_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return lease_op_result_ok (result, error);
}
