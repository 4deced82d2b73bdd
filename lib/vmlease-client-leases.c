/* vmlease-client-leases.c: VmleaseClient's calls that find, create and
 * delete leases through the manager (GetLease, CreateLease, DeleteLease).
 * Moved out of vmlease-client.c, which keeps the connection, the objects it
 * follows and the lease object of each path. */
#include "vmlease-private.h"
#include "vmlease-client-private.h"

/* --- finding, creating, deleting leases ----------------------------------- */

static gboolean
check_uuid (const char *uuid, GError **error)
{
  if (uuid != NULL && g_uuid_string_is_valid (uuid))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "not a UUID: \"%s\"", uuid != NULL ? uuid : "(null)");
  return FALSE;
}

static void
on_lease_proxy (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  g_autoptr(GDBusProxy) proxy = NULL;
  GError *error = NULL;

  proxy = g_dbus_proxy_new_finish (result, &error);
  if (proxy == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, g_object_ref (_vmlease_client_lease_for_proxy (self, proxy)),
                         g_object_unref);
}

/* The manager answered a lease's object path: the lease object, from what is
 * known, else made around a proxy of its own (the ObjectManager's
 * InterfacesAdded may not have been dispatched yet). */
static void
on_lease_path (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseClient *self = g_task_get_source_object (task);
  g_autoptr(GVariant) reply = NULL;
  GError *error = NULL;
  const char *path;
  VmleaseLease *lease;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply == NULL)
    {
      _vmlease_error_tidy (error);
      g_task_return_error (task, error);
      return;
    }
  g_variant_get (reply, "(&o)", &path);
  lease = _vmlease_client_lease_for_path (self, path);
  if (lease != NULL)
    {
      g_task_return_pointer (task, g_object_ref (lease), g_object_unref);
      return;
    }
  g_dbus_proxy_new (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL, VMLEASE_BUS_NAME, path,
                    VMLEASE_LEASE_IFACE, g_task_get_cancellable (task), on_lease_proxy,
                    g_object_ref (task));
}

/* GetLease only reads: it never lets polkit ask. */
static GDBusCallFlags
change_flags (VmleaseClient *self, const char *method)
{
  return g_str_equal (method, "GetLease") ? G_DBUS_CALL_FLAGS_NONE : self->call_flags;
}

static void
manager_lease_call (VmleaseClient *self, const char *method, GVariant *params,
                    GCancellable *cancellable, GAsyncReadyCallback callback,
                    gpointer user_data, gpointer source_tag, const char *uuid)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;

  g_task_set_source_tag (task, source_tag);
  if (!check_uuid (uuid, &error))
    {
      g_variant_unref (g_variant_ref_sink (params));
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_dbus_proxy_call (self->manager, method, params, change_flags (self, method),
                     VMLEASE_CALL_TIMEOUT_MS, cancellable, on_lease_path, task);
}

static VmleaseLease *
manager_lease_call_sync (VmleaseClient *self, const char *method, GVariant *params,
                         GCancellable *cancellable, GError **error, const char *uuid)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GDBusProxy) proxy = NULL;
  const char *path;
  VmleaseLease *lease;

  if (!check_uuid (uuid, error))
    {
      g_variant_unref (g_variant_ref_sink (params));
      return NULL;
    }
  reply = g_dbus_proxy_call_sync (self->manager, method, params, change_flags (self, method),
                                  VMLEASE_CALL_TIMEOUT_MS, cancellable, error);
  if (reply == NULL)
    {
      if (error != NULL)
        _vmlease_error_tidy (*error);
      return NULL;
    }
  g_variant_get (reply, "(&o)", &path);
  lease = _vmlease_client_lease_for_path (self, path);
  if (lease != NULL)
    return g_object_ref (lease);
  proxy = g_dbus_proxy_new_sync (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL,
                                 VMLEASE_BUS_NAME, path, VMLEASE_LEASE_IFACE,
                                 cancellable, error);
  if (proxy == NULL)
    return NULL;
  return g_object_ref (_vmlease_client_lease_for_proxy (self, proxy));
}

static VmleaseLease *
manager_lease_call_finish (VmleaseClient *self, GAsyncResult *result, gpointer source_tag,
                           GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * vmlease_client_get_lease:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the lease
 * @user_data: data for @callback
 *
 * Finds the lease of a VM (D-Bus `GetLease`): exported on the host already,
 * or created from another host and looked up in the joined lockspaces.
 * %VMLEASE_ERROR_NOT_FOUND if there is none (a lease just created from
 * another host may be not found for up to 2 s: docs/api.md).
 */
void
vmlease_client_get_lease (VmleaseClient *self, const char *uuid, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  manager_lease_call (self, "GetLease", g_variant_new ("(s)", uuid ? uuid : ""), cancellable,
                      callback, user_data, vmlease_client_get_lease, uuid);
}

/**
 * vmlease_client_get_lease_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.get_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_get_lease_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return manager_lease_call_finish (self, result, vmlease_client_get_lease, error);
}

/**
 * vmlease_client_get_lease_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Finds the lease of a VM, blocking; see [method@Vmlease.Client.get_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_get_lease_sync (VmleaseClient *self, const char *uuid,
                               GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return manager_lease_call_sync (self, "GetLease", g_variant_new ("(s)", uuid ? uuid : ""),
                                  cancellable, error, uuid);
}

/* @path NULL: allocated from the lockspace's index (@offset unused). */
static GVariant *
create_params_full (const char *uuid, const char *lockspace, const char *name,
                    const char *path, guint64 offset)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (name != NULL)
    g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (name));
  if (path != NULL)
    {
      g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (path));
      g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_uint64 (offset));
    }
  return g_variant_new ("(ssa{sv})", uuid ? uuid : "", lockspace ? lockspace : "", &b);
}

static GVariant *
create_params (const char *uuid, const char *lockspace, const char *name)
{
  return create_params_full (uuid, lockspace, name, NULL, 0);
}

/**
 * vmlease_client_create_lease:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name, for people
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the lease
 * @user_data: data for @callback
 *
 * Makes the VM's lease on storage, allocated from the lockspace's resource
 * index (D-Bus `CreateLease`). A lease of that UUID created from another
 * host is adopted. %VMLEASE_ERROR_EXISTS if the host exports it already.
 */
void
vmlease_client_create_lease (VmleaseClient *self, const char *uuid, const char *lockspace,
                             const char *name, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (lockspace != NULL);
  manager_lease_call (self, "CreateLease", create_params (uuid, lockspace, name), cancellable,
                      callback, user_data, vmlease_client_create_lease, uuid);
}

/**
 * vmlease_client_create_lease_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.create_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return manager_lease_call_finish (self, result, vmlease_client_create_lease, error);
}

/**
 * vmlease_client_create_lease_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Creates a lease, blocking; see [method@Vmlease.Client.create_lease].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_sync (VmleaseClient *self, const char *uuid, const char *lockspace,
                                  const char *name, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  g_return_val_if_fail (lockspace != NULL, NULL);
  return manager_lease_call_sync (self, "CreateLease", create_params (uuid, lockspace, name),
                                  cancellable, error, uuid);
}

/**
 * vmlease_client_create_lease_full:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name, for people
 * @path: (nullable): where on storage to place the lease, or %NULL to
 *   allocate it from the lockspace's resource index
 * @offset: with @path: where in @path, a multiple of 1 MiB
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the lease
 * @user_data: data for @callback
 *
 * Like [method@Vmlease.Client.create_lease], but a @path places the lease
 * at @offset in it (D-Bus `CreateLease` options `path` and `offset`)
 * instead of the lockspace's index.
 */
void
vmlease_client_create_lease_full (VmleaseClient *self, const char *uuid, const char *lockspace,
                                  const char *name, const char *path, guint64 offset,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (lockspace != NULL);
  manager_lease_call (self, "CreateLease", create_params_full (uuid, lockspace, name, path, offset),
                      cancellable, callback, user_data, vmlease_client_create_lease_full, uuid);
}

/**
 * vmlease_client_create_lease_full_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.create_lease_full].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_full_finish (VmleaseClient *self, GAsyncResult *result,
                                         GError **error)
{
  return manager_lease_call_finish (self, result, vmlease_client_create_lease_full, error);
}

/**
 * vmlease_client_create_lease_full_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @lockspace: a lockspace the host has joined
 * @name: (nullable): the VM's name
 * @path: (nullable): where to place the lease, or %NULL for the index
 * @offset: with @path: where in @path
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Creates a lease, blocking; see [method@Vmlease.Client.create_lease_full].
 *
 * Returns: (transfer full) (nullable): the lease, or %NULL on error
 */
VmleaseLease *
vmlease_client_create_lease_full_sync (VmleaseClient *self, const char *uuid,
                                       const char *lockspace, const char *name,
                                       const char *path, guint64 offset,
                                       GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  g_return_val_if_fail (lockspace != NULL, NULL);
  return manager_lease_call_sync (self, "CreateLease",
                                  create_params_full (uuid, lockspace, name, path, offset),
                                  cancellable, error, uuid);
}

/**
 * vmlease_client_delete_lease:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Removes the VM's lease from storage (D-Bus `DeleteLease`).
 * %VMLEASE_ERROR_BUSY while any live host holds it.
 */
void
vmlease_client_delete_lease (VmleaseClient *self, const char *uuid, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;

  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  if (!check_uuid (uuid, &error))
    {
      g_task_report_error (self, callback, user_data, vmlease_client_delete_lease, error);
      return;
    }
  _vmlease_client_call (self, "DeleteLease", g_variant_new ("(sa{sv})", uuid, NULL), cancellable,
                callback, user_data, vmlease_client_delete_lease);
}

/**
 * vmlease_client_delete_lease_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.delete_lease].
 *
 * Returns: whether the lease was deleted
 */
gboolean
vmlease_client_delete_lease_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return _vmlease_client_call_finish (self, result, vmlease_client_delete_lease, error);
}

/**
 * vmlease_client_delete_lease_sync:
 * @self: the client
 * @uuid: the VM's UUID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Deletes a lease, blocking; see [method@Vmlease.Client.delete_lease].
 *
 * Returns: whether the lease was deleted
 */
gboolean
vmlease_client_delete_lease_sync (VmleaseClient *self, const char *uuid,
                                  GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  if (!check_uuid (uuid, error))
    return FALSE;
  return _vmlease_client_call_sync (self, "DeleteLease", g_variant_new ("(sa{sv})", uuid, NULL),
                            cancellable, error);
}
