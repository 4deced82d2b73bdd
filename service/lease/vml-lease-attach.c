/* vml-lease-attach.c: VmlLease's AttachDisks (hotplug: disk leases taken
 * for a VM lease held here, all or nothing) and DetachDisks (hot-unplug:
 * given up). The disks go to the VM lease's disk holders with room, and to
 * new ones (vml-lease-disks.c); a holder left keeping nothing is ended. */
#include "config.h"


#include "vml-error.h"
#include "vml-lease-private.h"

#define ATTACH_RETRY_MS 500

typedef struct {
  GPtrArray *specs;     /* VmlDiskSpec asked for (attach) */
  char     **keys;      /* detach */
  guint      wait_s;
  gint64     deadline;
  guint      losses;    /* self->losses when it started */
  GPtrArray *held;      /* copies of the lease's disks */
  GPtrArray *wanted;    /* LeaseDisk, located; attach: to take; detach: to let go */
  GPtrArray *holders;   /* the disk holders (attach: the lease's, then new ones) */
  VmlFence   fence;
  guint      fence_pid;
  char      *fence_qmp;
  gboolean   retry;
} AttachData;

static void
attach_data_free (AttachData *data)
{
  g_clear_pointer (&data->specs, g_ptr_array_unref);
  g_strfreev (data->keys);
  g_clear_pointer (&data->held, g_ptr_array_unref);
  g_clear_pointer (&data->wanted, g_ptr_array_unref);
  g_clear_pointer (&data->holders, g_ptr_array_unref);
  g_free (data->fence_qmp);
  g_free (data);
}

/* Both need the VM lease held here, and no hand-off in progress (the
 * disks move with a hand-off as they are at begin). */
static gboolean
check_held (VmlLease *self, const char *method, GError **error)
{
  if (self->transfer.role != TRANSFER_NONE)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_WRONG_STEP,
                   "%s: the lease of %s is in a hand-off (%s); disks change before begin or "
                   "after confirm", method, self->uuid, lease_state_names[self->state]);
      return FALSE;
    }
  if (self->state != LEASE_HELD || self->holder == NULL)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
                   "%s: the lease of %s is not held exclusively on this host (it is %s)", method,
                   self->uuid, lease_state_names[self->state]);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* AttachDisks                                                            */

static void run_attach (VmlLease *self, GTask *op);

static void
attach_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  AttachData *data = task_data;
  GError *error = NULL;

  if (g_cancellable_is_cancelled (cancellable))
    {
      g_task_return_error (task, lease_caller_left_error ());
      return;
    }
  if (lease_disks_take (self, data->held, data->wanted, data->holders, data->fence,
                        data->fence_pid, data->fence_qmp, &error))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (g_error_matches (error, VML_ERROR, VML_ERROR_BUSY) &&
      g_get_monotonic_time () < data->deadline)
    {
      g_clear_error (&error);
      data->retry = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_task_return_error (task, error);
}

/* New holders (not yet the lease's) of an attach that keeps nothing. */
static void
end_new_holders (VmlLease *self, AttachData *data)
{
  for (guint h = 0; h < data->holders->len; h++)
    {
      VmlHolder *holder = data->holders->pdata[h];

      if (!g_ptr_array_find (self->disk_holders, holder, NULL))
        vml_holder_revoke (holder);
    }
}

static void
on_attached (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  AttachData *data = g_task_get_task_data (op);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (data->wait_s > 0 && g_error_matches (error, VML_ERROR, VML_ERROR_BUSY))
        g_prefix_error (&error, "still busy after waiting %u s: ", data->wait_s);
      lease_finish_op (self, NULL, error);
      return;
    }
  if (self->losses != data->losses || self->state != LEASE_HELD)
    {
      /* The VM lease went meanwhile: its disks must not stay. */
      end_new_holders (self, data);
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_NOT_HELD,
                                    "AttachDisks: the lease of %s was lost meanwhile",
                                    self->uuid));
      return;
    }
  if (data->retry)
    {
      data->retry = FALSE;
      lease_op_again_after (op, ATTACH_RETRY_MS, run_attach);
      return;
    }
  for (guint h = 0; h < data->holders->len; h++)
    if (!g_ptr_array_find (self->disk_holders, data->holders->pdata[h], NULL))
      {
        g_ptr_array_add (self->disk_holders, g_object_ref (data->holders->pdata[h]));
        lease_adopt_disk_holder (self, data->holders->pdata[h]);
      }
  for (guint i = 0; i < data->wanted->len; i++)
    g_ptr_array_add (self->disks, g_steal_pointer (&data->wanted->pdata[i]));
  g_ptr_array_set_size (data->wanted, 0);
  lease_disks_publish (self);
  lease_save_or_warn (self);
  vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self), "Disks attached: %u held now",
           self->disks->len);
  lease_finish_op (self, NULL, NULL);
}

static void
run_attach (VmlLease *self, GTask *op)
{
  AttachData *data = g_task_get_task_data (op);
  GError *error = NULL;

  if (!check_held (self, "AttachDisks", &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  g_clear_pointer (&data->held, g_ptr_array_unref);
  g_clear_pointer (&data->holders, g_ptr_array_unref);
  data->held = lease_disks_copy (self->disks);
  data->holders = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint h = 0; h < self->disk_holders->len; h++)
    g_ptr_array_add (data->holders, g_object_ref (self->disk_holders->pdata[h]));
  data->fence = self->fence;
  data->fence_pid = self->fence_pid;
  data->fence_qmp = g_strdup (self->fence_qmp);
  data->losses = self->losses;
  lease_op_work_in_thread (self, op, attach_thread, on_attached);
}

static void
on_attach_located (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  AttachData *data = g_task_get_task_data (op);
  GError *error = NULL;

  data->wanted = lease_disks_locate_finish (self, result, &error);
  if (data->wanted == NULL)
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  data->deadline = g_get_monotonic_time () + (gint64) data->wait_s * G_USEC_PER_SEC;
  run_attach (self, op);
}

static void
start_attach (VmlLease *self, GTask *op)
{
  AttachData *data = g_task_get_task_data (op);
  GError *error = NULL;

  if (!check_held (self, "AttachDisks", &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  /* Held already in the same mode: nothing to do for it; in the other
   * mode: refused, as a change of mode would need a gap. */
  for (guint i = data->specs->len; i > 0; i--)
    {
      VmlDiskSpec *spec = data->specs->pdata[i - 1];
      LeaseDisk *held = lease_disks_find (self->disks, spec->key);

      if (held == NULL)
        continue;
      if (held->mode != spec->mode)
        {
          lease_finish_op (self, NULL,
                           g_error_new (VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                                        "AttachDisks: disk \"%s\" is held %s here; detach it "
                                        "first to take it %s", spec->key,
                                        vml_mode_to_string (held->mode),
                                        vml_mode_to_string (spec->mode)));
          return;
        }
      g_ptr_array_remove_index (data->specs, i - 1);
    }
  if (self->disks->len + data->specs->len > VML_DISKS_MAX)
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                                    "AttachDisks: at most %d disks per VM lease (%u held, %u "
                                    "more asked for)", VML_DISKS_MAX, self->disks->len,
                                    data->specs->len));
      return;
    }
  if (data->specs->len == 0)
    {
      lease_finish_op (self, NULL, NULL);
      return;
    }
  lease_disks_locate (self, data->specs, on_attach_located, op);
}

static const VmlOptionSpec attach_options[] = {
  { "wait", "u" },
  { NULL }
};

void
lease_attach_disks_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) disks = NULL, options = NULL;
  AttachData *data = g_new0 (AttachData, 1);
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a(ss)@a{sv})",
                 &disks, &options);
  if (vml_options_check (options, "AttachDisks", attach_options, &error))
    g_variant_lookup (options, "wait", "u", &data->wait_s);
  if (error == NULL && vml_check_wait (data->wait_s, "AttachDisks", &error))
    data->specs = vml_disks_parse (disks, 0, "AttachDisks", &error);
  if (error == NULL && data->specs->len == 0)
    g_set_error_literal (&error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                         "AttachDisks: name at least one disk");
  if (error != NULL)
    {
      attach_data_free (data);
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  lease_enqueue_invocation (self, invocation, uid, data, (GDestroyNotify) attach_data_free,
                            NULL, start_attach);
}

/* ---------------------------------------------------------------------- */
/* DetachDisks                                                            */

static void
detach_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  AttachData *data = task_data;
  GError *error = NULL;

  if (lease_disks_let_go (VML_LEASE (source), data->wanted, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_detached (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  AttachData *data = g_task_get_task_data (op);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  for (guint i = 0; i < data->wanted->len; i++)
    {
      LeaseDisk *disk = lease_disks_find (self->disks,
                                          ((LeaseDisk *) data->wanted->pdata[i])->key);

      if (disk != NULL)
        g_ptr_array_remove (self->disks, disk);
    }
  lease_disks_end_idle_holders (self);
  lease_disks_publish (self);
  lease_save_or_warn (self);
  vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self), "Disks detached: %u held now",
           self->disks->len);
  lease_finish_op (self, NULL, NULL);
}

static void
start_detach (VmlLease *self, GTask *op)
{
  AttachData *data = g_task_get_task_data (op);
  GError *error = NULL;

  if (!check_held (self, "DetachDisks", &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  data->wanted = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);
  for (guint i = 0; data->keys[i] != NULL; i++)
    {
      LeaseDisk *disk = lease_disks_find (self->disks, data->keys[i]);
      LeaseDisk *copy;

      if (disk == NULL)
        {
          lease_finish_op (self, NULL,
                           g_error_new (VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                                        "DetachDisks: disk \"%s\" is not held with the lease of "
                                        "%s; nothing was released", data->keys[i], self->uuid));
          return;
        }
      copy = lease_disk_new (disk->key, disk->name, disk->mode, disk->offset);
      g_set_object (&copy->holder, disk->holder);
      g_ptr_array_add (data->wanted, copy);
    }
  lease_op_work_in_thread (self, op, detach_thread, on_detached);
}

static const VmlOptionSpec no_options[] = { { NULL } };

void
lease_detach_disks_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  AttachData *data = g_new0 (AttachData, 1);
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(^as@a{sv})",
                 &data->keys, &options);
  if (vml_options_check (options, "DetachDisks", no_options, &error) && data->keys[0] == NULL)
    g_set_error_literal (&error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                         "DetachDisks: name at least one disk");
  for (guint i = 0; error == NULL && data->keys[i] != NULL; i++)
    if (!vml_disk_check_key (data->keys[i], &error))
      g_prefix_error (&error, "DetachDisks: ");
  if (error != NULL)
    {
      attach_data_free (data);
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  lease_enqueue_invocation (self, invocation, uid, data, (GDestroyNotify) attach_data_free,
                            NULL, start_detach);
}
