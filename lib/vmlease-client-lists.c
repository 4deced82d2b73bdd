/* vmlease-client-lists.c: what VmleaseClient lists (leases exported on the
 * host, lockspaces), the name owner, and the interactive authorization it
 * asks for. Moved out of vmlease-client.c. */
#include "vmlease-private.h"
#include "vmlease-client-private.h"
#include "vmlease-lockspace-private.h"

/* --- lists ---------------------------------------------------------------- */

/**
 * vmlease_client_get_leases:
 * @self: the client
 *
 * The leases the host exports now: those created or looked up there. A
 * lease created from another host is not among them until someone looks
 * it up here ([method@Vmlease.Client.get_lease]).
 *
 * Returns: (transfer full) (element-type VmleaseLease): the leases
 */
GList *
vmlease_client_get_leases (VmleaseClient *self)
{
  GList *objects, *leases = NULL;

  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  objects = g_dbus_object_manager_get_objects (self->object_manager);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface (l->data, VMLEASE_LEASE_IFACE);

      if (iface != NULL)
        {
          VmleaseLease *lease = _vmlease_client_lease_for_proxy (self, G_DBUS_PROXY (iface));

          leases = g_list_prepend (leases, g_object_ref (lease));
        }
    }
  g_list_free_full (objects, g_object_unref);
  return g_list_reverse (leases);
}

/**
 * vmlease_client_get_lockspaces:
 * @self: the client
 *
 * The lockspaces the host knows, as its `Lockspaces` property says now.
 *
 * Returns: (transfer container) (element-type VmleaseLockspace): the
 *   lockspaces; the array holds a reference on each (free it with
 *   g_ptr_array_unref())
 */
GPtrArray *
vmlease_client_get_lockspaces (VmleaseClient *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GVariant) v = NULL;
  GVariantIter iter;
  GVariant *entry;

  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), out);
  v = g_dbus_proxy_get_cached_property (self->manager, "Lockspaces");
  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE ("a(ststsu)")))
    return out;
  g_variant_iter_init (&iter, v);
  while ((entry = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_ptr_array_add (out, _vmlease_lockspace_new_from_variant (entry));
      g_variant_unref (entry);
    }
  return out;
}

/**
 * vmlease_client_get_name_owner:
 * @self: the client
 *
 * The unique bus name of the vmleased that answers now, or %NULL while none
 * does (not running, and not started by bus activation when the client was
 * made). Without one, the leases and lockspaces are empty and every call
 * fails; a vmleased that starts later is followed.
 *
 * Returns: (transfer full) (nullable): the unique name, or %NULL
 */
char *
vmlease_client_get_name_owner (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), NULL);
  return g_dbus_object_manager_client_get_name_owner (
           G_DBUS_OBJECT_MANAGER_CLIENT (self->object_manager));
}

/**
 * vmlease_client_set_allow_interactive_authorization:
 * @self: the client
 * @allow: whether polkit may ask the user
 *
 * Lets polkit ask the user (through an authentication agent) for the
 * authorization of every call that changes state, made from now on through
 * @self or a lease of it, instead of refusing it with
 * %VMLEASE_ERROR_NOT_AUTHORIZED: the D-Bus call flag
 * `ALLOW_INTERACTIVE_AUTHORIZATION`. Off by default; a command-line tool
 * turns it on.
 */
void
vmlease_client_set_allow_interactive_authorization (VmleaseClient *self, gboolean allow)
{
  GHashTableIter iter;
  gpointer lease;

  g_return_if_fail (VMLEASE_IS_CLIENT (self));
  self->call_flags = allow ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION
                           : G_DBUS_CALL_FLAGS_NONE;
  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, &lease))
    _vmlease_lease_set_call_flags (lease, self->call_flags);
}

/**
 * vmlease_client_get_allow_interactive_authorization:
 * @self: the client
 *
 * Returns: whether polkit may ask the user; see
 *   [method@Vmlease.Client.set_allow_interactive_authorization]
 */
gboolean
vmlease_client_get_allow_interactive_authorization (VmleaseClient *self)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (self), FALSE);
  return self->call_flags != G_DBUS_CALL_FLAGS_NONE;
}
