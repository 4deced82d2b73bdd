/* vmlease-client-lockspaces.c: VmleaseClient's lockspace calls
 * (LockspaceDetails, AddLockspace, RemoveLockspace). Moved out of
 * vmlease-client.c. */
#include "vmlease-private.h"
#include "vmlease-client-private.h"

/* --- lockspaces ------------------------------------------------------------- */

/**
 * vmlease_client_dup_lockspace_details:
 * @self: the client
 *
 * The manager's `LockspaceDetails` property as it is now: an `a{sa{sv}}`
 * by lockspace name, each with `state`, `host_id`, `path`, `offset`,
 * `io_timeout`, `sector_size` and, on failure, `error` (new keys may come).
 *
 * Returns: (transfer full) (nullable): the details, or %NULL while no
 *   vmleased answers
 */
GVariant *
vmlease_client_dup_lockspace_details (VmleaseClient *self)
{
  g_autoptr(GVariant) v = NULL;

  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  v = g_dbus_proxy_get_cached_property (self->manager, "LockspaceDetails");
  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE ("a{sa{sv}}")))
    return NULL;
  return g_steal_pointer (&v);
}

static GVariant *
add_lockspace_params (const char *name, guint64 host_id, const char *path, guint64 offset,
                      guint io_timeout, gboolean init)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (io_timeout != 0)
    g_variant_builder_add (&b, "{sv}", "io_timeout", g_variant_new_uint32 (io_timeout));
  if (init)
    g_variant_builder_add (&b, "{sv}", "init", g_variant_new_boolean (TRUE));
  return g_variant_new ("(ststa{sv})", name, host_id, path, offset, &b);
}

/**
 * vmlease_client_add_lockspace:
 * @self: the client
 * @name: the lockspace's name
 * @host_id: this host's id in it (1..2000)
 * @path: the shared storage
 * @offset: where the lockspace is in @path (a multiple of 1 MiB)
 * @io_timeout: sanlock's I/O timeout in seconds, 0 for the default (10)
 * @init: format the lockspace and an empty resource index first (destroys
 *   what was there: once, from one host)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the host has joined, or the call failed
 * @user_data: data for @callback
 *
 * Joins the host to a lockspace (D-Bus `AddLockspace`), which takes about
 * 2 × @io_timeout seconds; the host joins it again at every start. The
 * same call again is a no-op.
 */
void
vmlease_client_add_lockspace (VmleaseClient *self, const char *name, guint64 host_id,
                              const char *path, guint64 offset, guint io_timeout,
                              gboolean init, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (name != NULL && path != NULL);
  _vmlease_client_call (self, "AddLockspace",
                add_lockspace_params (name, host_id, path, offset, io_timeout, init),
                cancellable, callback, user_data, vmlease_client_add_lockspace);
}

/**
 * vmlease_client_add_lockspace_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.add_lockspace].
 *
 * Returns: whether the host has joined the lockspace
 */
gboolean
vmlease_client_add_lockspace_finish (VmleaseClient *self, GAsyncResult *result, GError **error)
{
  return _vmlease_client_call_finish (self, result, vmlease_client_add_lockspace, error);
}

/**
 * vmlease_client_add_lockspace_sync:
 * @self: the client
 * @name: the lockspace's name
 * @host_id: this host's id in it
 * @path: the shared storage
 * @offset: where the lockspace is in @path
 * @io_timeout: sanlock's I/O timeout in seconds, 0 for the default
 * @init: format it first
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Joins a lockspace, blocking; see [method@Vmlease.Client.add_lockspace].
 *
 * Returns: whether the host has joined the lockspace
 */
gboolean
vmlease_client_add_lockspace_sync (VmleaseClient *self, const char *name, guint64 host_id,
                                   const char *path, guint64 offset, guint io_timeout,
                                   gboolean init, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (name != NULL && path != NULL, FALSE);
  return _vmlease_client_call_sync (self, "AddLockspace",
                            add_lockspace_params (name, host_id, path, offset, io_timeout, init),
                            cancellable, error);
}

static GVariant *
remove_lockspace_params (const char *name, gboolean force)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (force)
    g_variant_builder_add (&b, "{sv}", "force", g_variant_new_boolean (TRUE));
  return g_variant_new ("(sa{sv})", name, &b);
}

/**
 * vmlease_client_remove_lockspace:
 * @self: the client
 * @name: a lockspace the host has joined
 * @force: leave even while leases in it are held here: they are released,
 *   their VMs fenced, and each emits [signal@Vmlease.Lease::lost]
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Leaves the lockspace and forgets it (D-Bus `RemoveLockspace`).
 * %VMLEASE_ERROR_BUSY while a lease in it is held here (without @force).
 */
void
vmlease_client_remove_lockspace (VmleaseClient *self, const char *name, gboolean force,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  g_return_if_fail (name != NULL);
  _vmlease_client_call (self, "RemoveLockspace", remove_lockspace_params (name, force), cancellable,
                callback, user_data, vmlease_client_remove_lockspace);
}

/**
 * vmlease_client_remove_lockspace_finish:
 * @self: the client
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Client.remove_lockspace].
 *
 * Returns: whether the host left the lockspace
 */
gboolean
vmlease_client_remove_lockspace_finish (VmleaseClient *self, GAsyncResult *result,
                                        GError **error)
{
  return _vmlease_client_call_finish (self, result, vmlease_client_remove_lockspace, error);
}

/**
 * vmlease_client_remove_lockspace_sync:
 * @self: the client
 * @name: a lockspace the host has joined
 * @force: leave even while leases in it are held here
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Leaves a lockspace, blocking; see [method@Vmlease.Client.remove_lockspace].
 *
 * Returns: whether the host left the lockspace
 */
gboolean
vmlease_client_remove_lockspace_sync (VmleaseClient *self, const char *name, gboolean force,
                                      GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  return _vmlease_client_call_sync (self, "RemoveLockspace", remove_lockspace_params (name, force),
                            cancellable, error);
}
