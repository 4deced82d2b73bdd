/* vml-lease-transfer-convert.c: the destination's conversion of its share
 * to exclusive, after finish has already answered (State "converting").
 *
 * Once the source's share is gone from storage, the destination is the
 * only holder, shared: sanlock lets nobody take the lease exclusively, and
 * a third host's shared Acquire backs off while the transfer marker is
 * held (by the source's holder: pre-copy until confirm, post-copy until
 * the destination holds it exclusively, vml-lease-transfer-marker.c). So
 * the guest may run on that share, and finish need not wait for the
 * conversion (docs/decisions.md "Hand-off details", docs/model.md: the
 * model checks it). The conversion is an operation in the lease's queue,
 * so every later call on the lease (Release, Inquire, a hand-off back)
 * waits until it is done. A refusal is looked at again: a third host's
 * shared Acquire that saw no marker holds the lease for a moment before it
 * backs off. Should nobody hold the marker (the source's holder died), the
 * destination's holder takes it. A conversion that cannot complete fences
 * the guest first and then lets go of the share: Lost "conversion-failed".
 * A restart of vmleased meanwhile finds the record "converting" and goes
 * on (vml-lease-restore.c). */
#include "config.h"

#include "vml-error.h"
#include "vml-fault.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

/* How soon a refused conversion is tried again, and for how long. */
#define CONVERT_LOOK_MS   100
#define CONVERT_GIVE_UP_S 15

/* thread: the disks first (so that the VM lease exclusive means all of it
 * is), each once; then the VM lease. */
static gboolean
convert_all (VmlLease *self, StepData *data, GError **error)
{
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      if (disk->done || disk->mode != VML_MODE_EXCLUSIVE || disk->holder == NULL)
        continue;
      if (!lease_sanlock_disk_convert (self->sanlock, disk->holder, disk->name, disk->offset,
                                       FALSE, error))
        {
          g_prefix_error (error, "disk \"%s\": ", disk->key);
          return FALSE;
        }
      disk->done = TRUE;
    }
  return lease_sanlock_convert (self->sanlock, data->held_by, FALSE, error);
}

/* thread */
static void
conversion_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  StepData *data = task_data;
  g_autoptr(GError) error = NULL;
  gboolean held = FALSE, shared = FALSE;

  /* After a restart the conversion may have been done, not recorded. */
  if (!lease_sanlock_inquire_holder (self->sanlock, vml_holder_get_pid (data->held_by), &held,
                                     &shared, &data->lver, &error))
    shared = held = TRUE;   /* sanlock did not say: converting tells */
  else if (!held)
    {
      g_task_return_new_error (task, VML_ERROR, VML_ERROR_NOT_HELD,
                               "the holder no longer holds the lease shared");
      return;
    }
  g_clear_error (&error);
  if (shared && !convert_all (self, data, &error))
    {
      if (!g_error_matches (error, VML_ERROR, VML_ERROR_BUSY) ||
          g_get_monotonic_time () >= data->deadline)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      /* Another host shares it: one that backs off once it sees the
       * marker. The marker must be held for that; if the source's holder
       * is gone, it is this holder's to keep until the end. */
      if (!data->marker_taken)
        data->marker_taken = lease_sanlock_marker_take (self->sanlock, data->held_by, NULL);
      data->again = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }
  lease_sanlock_inquire_holder (self->sanlock, vml_holder_get_pid (data->held_by), &held,
                                &shared, &data->lver, NULL);
  /* Also when a restart lost the word that it took the marker (best
   * effort: a holder that does not hold it is told nothing). */
  lease_sanlock_marker_drop (self->sanlock, data->held_by);
  g_task_return_boolean (task, TRUE);
}

static void run_conversion (VmlLease *self, GTask *op);

/* It cannot complete: the guest is fenced first (lease_report_lost), then
 * the holder lets go of the share. */
static void
conversion_failed (VmlLease *self, StepData *data, const GError *error)
{
  g_autofree char *why = g_strdup_printf ("the destination's conversion to exclusive after "
                                          "finish failed (%s); the VM process was fenced "
                                          "and the lease let go", error->message);
  VmlHolder *holder = self->holder ? g_object_ref (self->holder) : NULL;

  self->losses++;
  lease_report_lost (self, "conversion-failed", holder ? vml_holder_get_pid (holder) : 0, why);
  if (holder != NULL)
    {
      lease_drop_holder (self);
      if (data->marker_taken)
        lease_sanlock_marker_drop (self->sanlock, holder);
      vml_holder_revoke (holder);
      g_object_unref (holder);
    }
  lease_publish_holding (self);
  lease_save_or_warn (self);
}

static void
on_converted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  StepData *data = g_task_get_task_data (op);
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);

  if (data->losses != self->losses || self->state != LEASE_CONVERTING)
    {
      /* Its holder exited meanwhile: that loss was reported and fenced. */
      lease_finish_op (self, NULL, NULL);
      return;
    }
  if (ok && data->again)
    {
      data->again = FALSE;
      lease_op_again_after (op, CONVERT_LOOK_MS, run_conversion);
      return;
    }
  if (!ok)
    {
      conversion_failed (self, data, error);
      lease_finish_op (self, NULL, NULL);
      return;
    }
  self->mode = VML_MODE_EXCLUSIVE;
  if (data->lver != 0)
    self->lver = data->lver;
  lease_set_state (self, LEASE_HELD);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .message_id = VML_MSGID_LEASE_TRANSFERRED),
           "Transfer converted: held exclusively here%s",
           data->marker_taken ? " (the destination kept the marker meanwhile)" : "");
  lease_finish_op (self, NULL, NULL);
}

static void
run_conversion (VmlLease *self, GTask *op)
{
  lease_op_work_in_thread (self, op, conversion_thread, on_converted);
}

static void
start_conversion_op (VmlLease *self, GTask *op)
{
  StepData *data = g_task_get_task_data (op);

  if (self->state != LEASE_CONVERTING || self->holder == NULL)
    {
      lease_finish_op (self, NULL, NULL);
      return;
    }
  g_set_object (&data->held_by, self->holder);
  data->losses = self->losses;
  data->disks = lease_disks_copy (self->disks);
  data->deadline = g_get_monotonic_time () + (gint64) CONVERT_GIVE_UP_S * G_USEC_PER_SEC;
  /* finish answered and "converting" is recorded; nothing converted yet */
  vml_crash_point ("transfer.converting");
  run_conversion (self, op);
}

static void
on_conversion_op_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  lease_op_result_ok (result, NULL);
}

void
start_conversion (VmlLease *self)
{
  GTask *op = g_task_new (self, NULL, on_conversion_op_done, NULL);
  StepData *data = g_new0 (StepData, 1);

  data->target.pidfd = -1;
  g_task_set_task_data (op, data, (GDestroyNotify) lease_step_data_free);
  lease_enqueue_op (self, op, start_conversion_op);
}
