/* vml-lease-delete.c: DeleteLease of one lease (vml_lease_delete_async):
 * refused while any live host holds it; done while this host holds it
 * itself, so no other host can take it in between. Part of VmlLease
 * (vml-lease-core.c). */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"

/* ---------------------------------------------------------------------- */
/* Delete                                                                 */

static char *
describe_owners (VmlLeaseOwners *owners)
{
  g_autoptr(GString) text = g_string_new (NULL);

  if (owners->owner != 0)
    g_string_append_printf (text, "held exclusively by host %" G_GUINT64_FORMAT, owners->owner);
  for (guint i = 0; i < owners->shared_owners->len; i++)
    {
      const char *lead = i ? ", " : text->len ? "; held shared by hosts " : "held shared by hosts ";

      g_string_append_printf (text, "%s%" G_GUINT64_FORMAT, lead,
                              g_array_index (owners->shared_owners, guint64, i));
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* A delete holds the lease itself, exclusively, from before its last look
 * at the owners until the area is cleared: else another host could take
 * it in between and keep writing a VM's disks under a lease that no longer
 * exists (and whose area the index may hand to the next CreateLease). The
 * guard is a short-lived holder; ending it lets go (sanlock then finds the
 * area cleared and writes nothing). */
typedef struct {
  VmlHolder *guard;
} DeleteData;

static void
delete_data_free (DeleteData *data)
{
  if (data->guard != NULL)
    vml_holder_terminate (data->guard);
  g_clear_object (&data->guard);
  g_free (data);
}

/* The guard lets go and is gone before the delete answers: a
 * RemoveLockspace right after must not find a process still holding a
 * lease in the lockspace. Worker threads only. */
static void
end_guard (VmlLease *self, DeleteData *data)
{
  if (data->guard == NULL)
    return;
  lease_sanlock_guard_release (self->sanlock, data->guard);
  vml_holder_stop (data->guard, 1000);
  g_clear_object (&data->guard);
}

/* Under the index lock of @ls, the lease's own lockspace (its door knows
 * it); @user_data is the delete's task (its lease, its guard). */
static gboolean
delete_from_index_locked (VmlLockspace *ls, gpointer user_data, GError **error)
{
  GTask *guarded = G_TASK (user_data);
  VmlLease *self = VML_LEASE (g_task_get_source_object (guarded));
  gboolean ok;

  ok = lease_sanlock_index_delete (self->sanlock, error);
  end_guard (self, g_task_get_task_data (guarded));
  return ok;
}

static gboolean
guard_for_delete (VmlLease *self, DeleteData *data, GError **error)
{
  data->guard = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                  VML_HOLDER_FOR_LOCK, error);
  if (data->guard == NULL || !vml_holder_claim_lock (data->guard, self->uuid, error) ||
      !lease_sanlock_guard_take (self->sanlock, data->guard, error))
    {
      g_prefix_error (error, "the lease of %s cannot be deleted: ", self->uuid);
      return FALSE;
    }
  return TRUE;
}

static void
delete_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  DeleteData *data = task_data;
  g_autoptr(VmlLeaseOwners) owners = NULL;
  GError *error = NULL;

  owners = lease_sanlock_read_owners (self->sanlock, &error);
  if (owners == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (owners->owners_live && (owners->owner != 0 || owners->shared_owners->len > 0))
    {
      g_autofree char *who = describe_owners (owners);
      g_task_return_new_error (task, VML_ERROR, VML_ERROR_BUSY,
                               "the lease of %s is %s; it can only be deleted once no "
                               "host holds it", self->uuid, who);
      return;
    }
  if (!guard_for_delete (self, data, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  /* An indexed lease's entry goes under the index lock, from the main loop
   * (on_free_to_delete); an explicit one is cleared here. */
  if (self->indexed)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (!lease_sanlock_clear_area (self->sanlock, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  end_guard (self, data);
  g_task_return_boolean (task, TRUE);
}

static void
deleted (VmlLease *self, GError *error)
{
  if (error == NULL)
    vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .message_id = VML_MSGID_LEASE_DELETED),
             "Lease deleted from storage");
  lease_finish_op (self, NULL, error);
}

static void
on_deleted_from_index (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) guarded = user_data;   /* kept for delete_from_index_locked */
  VmlLease *self = VML_LEASE (g_task_get_source_object (guarded));
  GError *error = NULL;

  vml_lockspace_run_locked_index_finish (VML_LOCKSPACE (source), result, &error);
  deleted (self, error);
}

static void
on_free_to_delete (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) || !self->indexed)
    {
      deleted (self, error);
      return;
    }
  vml_lockspace_run_locked_index_async (self->lockspace,
                                        vml_holder_pool_get_holder_path (self->holders),
                                        delete_from_index_locked, result,
                                        on_deleted_from_index, g_object_ref (result));
}

static void
start_delete (VmlLease *self, GTask *op)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  if (self->state != LEASE_FREE && self->state != LEASE_LOST)
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_BUSY,
                                    "the lease of %s is %s on this host; Release it before "
                                    "deleting it", self->uuid, lease_state_names[self->state]));
      return;
    }
  if (!lease_lockspace_ready (self, &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  task = g_task_new (self, NULL, on_free_to_delete, NULL);
  g_task_set_task_data (task, g_new0 (DeleteData, 1), (GDestroyNotify) delete_data_free);
  g_task_run_in_thread (task, delete_thread);
}

void
vml_lease_delete_async (VmlLease *self, GAsyncReadyCallback callback, gpointer user_data)
{
  lease_enqueue_op (self, g_task_new (self, NULL, callback, user_data), start_delete);
}

gboolean
vml_lease_delete_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return lease_op_result_ok (result, error);
}
