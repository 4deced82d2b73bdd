/* vml-manager-lockspaces.c: the Manager's lockspace methods, AddLockspace
 * and RemoveLockspace, after authorization. What they change (the table,
 * the records, LockspaceChanged) is kept by vml-manager-tree.c. */
#include "config.h"

#include "vml-error.h"
#include "vml-manager-private.h"
#include "vml-options.h"

/* ---------------------------------------------------------------------- */
/* AddLockspace                                                           */

static const VmlOptionSpec add_lockspace_options[] = {
  { "io_timeout", "u" },
  { "init", "b" },
  { NULL }
};

typedef struct {
  VmlManager            *self;
  GDBusMethodInvocation *invocation;
  gboolean               is_new;
} JoinData;

static void
on_lockspace_joined (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLockspace *ls = VML_LOCKSPACE (source);
  g_autofree JoinData *data = user_data;
  g_autoptr(VmlManager) self = data->self;
  g_autoptr(GDBusMethodInvocation) invocation = data->invocation;
  GError *error = NULL;

  if (!vml_lockspace_join_finish (ls, result, &error))
    {
      if (data->is_new)
        {
          /* Never joined: forget it, so a corrected AddLockspace can follow. */
          manager_emit_lockspace_changed (self, ls, "removed", error->message);
          manager_drop_lockspace (self, ls);
        }
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  manager_save_lockspace (self, ls);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
join_for_caller (VmlManager *self, GDBusMethodInvocation *invocation,
                 VmlLockspace *ls, gboolean init, gboolean is_new)
{
  JoinData *data = g_new0 (JoinData, 1);

  data->self = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->is_new = is_new;
  vml_lockspace_join_async (ls, init, on_lockspace_joined, data);
}

/* Decides what AddLockspace means for a lockspace already known here. */
static void
add_known_lockspace (VmlManager *self, GDBusMethodInvocation *invocation,
                     VmlLockspace *known, VmlLockspace *wanted, gboolean init)
{
  const char *name = vml_lockspace_get_name (known);

  if (!vml_lockspace_same_place (known, wanted))
    g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_EXISTS,
                                           "lockspace '%s' is already used here as host %"
                                           G_GUINT64_FORMAT " at %s offset %" G_GUINT64_FORMAT
                                           "; RemoveLockspace it first to change that",
                                           name, vml_lockspace_get_host_id (known),
                                           vml_lockspace_get_path (known),
                                           vml_lockspace_get_offset (known));
  else if (vml_lockspace_get_state (known) == VML_LOCKSPACE_JOINING)
    g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_BUSY,
                                           "lockspace '%s' is being joined right now; "
                                           "wait for LockspaceChanged", name);
  else if (vml_lockspace_is_joined (known) && init)
    g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                                           "lockspace '%s' is joined; formatting it (init) "
                                           "now would destroy every lease in it", name);
  else if (vml_lockspace_is_joined (known))
    g_dbus_method_invocation_return_value (invocation, NULL);
  else
    join_for_caller (self, invocation, known, init, FALSE);
}

void
manager_add_lockspace_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlManager *self = VML_MANAGER (object);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(VmlLockspace) wanted = NULL;
  const char *name, *path;
  guint64 host_id, offset;
  guint io_timeout = 10;
  gboolean init = FALSE;
  VmlLockspace *known, *other;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&st&st@a{sv})",
                 &name, &host_id, &path, &offset, &options);
  if (!vml_options_check (options, "AddLockspace", add_lockspace_options, &error) ||
      !vml_check_lockspace_name (name, &error) || !vml_check_host_id (host_id, &error) ||
      !vml_check_storage_path (path, &error) || !vml_check_aligned_offset (offset, &error) ||
      !vml_check_storage_range (path, offset, MANAGER_LOCKSPACE_AREA_SIZE, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  g_variant_lookup (options, "io_timeout", "u", &io_timeout);
  g_variant_lookup (options, "init", "b", &init);
  if (!vml_check_io_timeout (io_timeout, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  wanted = vml_lockspace_new (name, host_id, path, offset, io_timeout);
  known = g_hash_table_lookup (self->lockspaces, name);
  if (known != NULL)
    {
      add_known_lockspace (self, invocation, known, wanted, init);
      return;
    }
  other = manager_lockspace_at (self, name, path, offset);
  if (other != NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_EXISTS,
                                             "lockspace '%s' already lives at %s offset %"
                                             G_GUINT64_FORMAT, vml_lockspace_get_name (other),
                                             path, offset);
      return;
    }
  manager_add_lockspace (self, wanted);
  join_for_caller (self, invocation, wanted, init, TRUE);
}

/* ---------------------------------------------------------------------- */
/* RemoveLockspace                                                        */

static const VmlOptionSpec remove_lockspace_options[] = {
  { "force", "b" },
  { NULL }
};

typedef struct {
  VmlManager            *self;
  GDBusMethodInvocation *invocation;
  VmlLockspace          *ls;
  guint                  releases_pending;
  GError                *error;
} RemoveData;

static void
remove_data_free (RemoveData *data)
{
  g_object_unref (data->self);
  g_object_unref (data->invocation);
  g_object_unref (data->ls);
  g_clear_error (&data->error);
  g_free (data);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RemoveData, remove_data_free)

static void
on_lockspace_left (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(RemoveData) data = user_data;
  GError *error = NULL;

  if (!vml_lockspace_leave_finish (data->ls, result, &error))
    {
      g_dbus_method_invocation_take_error (data->invocation, error);
      return;
    }
  manager_forget_lockspace (data->self, data->ls);
  g_dbus_method_invocation_return_value (data->invocation, NULL);
}

static void
leave_when_released (RemoveData *data)
{
  if (data->error != NULL)
    {
      g_dbus_method_invocation_return_gerror (data->invocation, data->error);
      remove_data_free (data);
      return;
    }
  if (!vml_lockspace_is_joined (data->ls))
    {
      /* Nothing to leave in sanlock (the join failed): just forget it. */
      manager_forget_lockspace (data->self, data->ls);
      g_dbus_method_invocation_return_value (data->invocation, NULL);
      remove_data_free (data);
      return;
    }
  vml_lockspace_leave_async (data->ls, on_lockspace_left, data);
}

static void
on_forced_release (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RemoveData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!vml_lease_drop_finish (VML_LEASE (source), result, &error) && data->error == NULL)
    data->error = g_steal_pointer (&error);
  if (--data->releases_pending == 0)
    leave_when_released (data);
}

static gboolean
refuse_if_in_use (VmlManager *self, VmlLockspace *ls, gboolean force, GError **error)
{
  g_autoptr(GPtrArray) leases = manager_leases_in (self, ls);
  g_autoptr(GString) held = g_string_new (NULL);

  if (vml_lockspace_get_state (ls) == VML_LOCKSPACE_JOINING)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "lockspace '%s' is being joined; try again once it is joined",
                   vml_lockspace_get_name (ls));
      return FALSE;
    }
  for (guint i = 0; i < leases->len; i++)
    {
      VmlLease *lease = leases->pdata[i];
      g_autofree char *waiting = vml_lease_describe_wait (lease);

      if (waiting != NULL)
        {
          g_set_error (error, VML_ERROR, VML_ERROR_BUSY, "%s; try again when it has ended",
                       waiting);
          return FALSE;
        }
      if (vml_lease_is_busy (lease))
        {
          g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                       "an operation on lease %s is in progress; try again when it is done",
                       vml_lease_get_uuid (lease));
          return FALSE;
        }
      if (vml_lease_is_held (lease))
        g_string_append_printf (held, "%s%s", held->len ? ", " : "", vml_lease_get_uuid (lease));
    }
  if (held->len > 0 && !force)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "leases in lockspace '%s' are held on this host (%s); release them, "
                   "or pass force to release them and leave",
                   vml_lockspace_get_name (ls), held->str);
      return FALSE;
    }
  return TRUE;
}

void
manager_remove_lockspace_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlManager *self = VML_MANAGER (object);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GPtrArray) leases = NULL;
  gboolean force = FALSE;
  RemoveData *data;
  VmlLockspace *ls;
  const char *name;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})",
                 &name, &options);
  if (!vml_options_check (options, "RemoveLockspace", remove_lockspace_options, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  g_variant_lookup (options, "force", "b", &force);
  ls = g_hash_table_lookup (self->lockspaces, name);
  if (ls == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_NOT_FOUND,
                                             "this host uses no lockspace named '%s'", name);
      return;
    }
  if (!refuse_if_in_use (self, ls, force, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  data = g_new0 (RemoveData, 1);
  data->self = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->ls = g_object_ref (ls);
  leases = manager_leases_in (self, ls);
  for (guint i = 0; i < leases->len; i++)
    if (vml_lease_is_held (leases->pdata[i]))
      {
        data->releases_pending++;
        vml_lease_drop_async (leases->pdata[i], "lockspace-removed", on_forced_release, data);
      }
  if (data->releases_pending == 0)
    leave_when_released (data);
}
