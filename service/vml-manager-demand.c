/* vml-manager-demand.c: lease objects on demand. A call or a property
 * read on /org/example/VMLease/vm/<uuid> for a lease this host has not
 * exported yet (created from another host) is answered: the lease is
 * looked up in the joined lockspaces as GetLease does, exported, and the
 * call handed to it, the way systemd loads a unit from its object path.
 * A GDBus subtree at /org/example/VMLease/vm gets only the calls to paths
 * no object is registered at (exported leases answer themselves); its
 * enumeration lists the exported leases only, so `busctl tree` and the
 * ObjectManager show what they showed before (docs/decisions.md "Lease
 * objects on demand"). */
#include "config.h"

#include "vml-error.h"
#include "vml-manager-private.h"
#include "vml-object-path.h"

#define LEASE_NODE_PREFIX "/org/example/VMLease/vm"

typedef struct {
  GDBusMethodInvocation *invocation;   /* until answered: each return_*() takes it */
  char                  *uuid;
} Demand;

static void
demand_free (Demand *demand)
{
  g_clear_object (&demand->invocation);
  g_free (demand->uuid);
  g_free (demand);
}

/* The node's UUID ('_' for '-'), or NULL when the node names none. */
static char *
node_uuid (const char *node)
{
  g_autofree char *uuid = node ? g_strdelimit (g_strdup (node), "_", '-') : NULL;

  if (uuid == NULL || !g_uuid_string_is_valid (uuid))
    return NULL;
  return g_ascii_strdown (uuid, -1);
}

/* Properties.Get, GetAll and Set, answered from the skeleton now exported.
 * Takes @invocation (every path returns on it). */
static void
answer_properties (GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *invocation)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  g_autoptr(GVariant) all = g_dbus_interface_skeleton_get_properties (skeleton);
  const char *iface, *name;

  if (g_str_equal (method, "GetAll"))
    {
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@a{sv})", g_steal_pointer (&all)));
      return;
    }
  g_variant_get_child (params, 0, "&s", &iface);
  g_variant_get_child (params, 1, "&s", &name);
  if (g_str_equal (method, "Get"))
    {
      g_autoptr(GVariant) value = g_variant_lookup_value (all, name, NULL);

      if (value != NULL)
        {
          g_dbus_method_invocation_return_value (invocation, g_variant_new ("(v)", value));
          return;
        }
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_INVALID_ARGS,
                                             "No such property '%s' on %s", name, iface);
      return;
    }
  g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                         G_DBUS_ERROR_PROPERTY_READ_ONLY,
                                         "Property '%s' of %s is read-only", name, iface);
}

static void
on_found (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Demand *demand = user_data;
  GDBusMethodInvocation *invocation = demand->invocation;
  g_autoptr(GError) error = NULL;
  g_autoptr(VmlLease) lease = g_task_propagate_pointer (G_TASK (result), &error);
  g_autoptr(GDBusInterface) iface = NULL;
  GDBusInterfaceSkeleton *skeleton;

  if (lease != NULL)
    iface = g_dbus_object_get_interface (G_DBUS_OBJECT (vml_lease_get_object (lease)),
                                         "org.example.VMLease");
  if (iface == NULL)
    {
      /* Not found: what a call to no object is answered, saying why. */
      g_dbus_method_invocation_return_error (g_steal_pointer (&demand->invocation), G_DBUS_ERROR,
                                             G_DBUS_ERROR_UNKNOWN_OBJECT,
                                             "No lease object %s: %s",
                                             g_dbus_method_invocation_get_object_path (invocation),
                                             error ? error->message : "not exported");
      demand_free (demand);
      return;
    }
  skeleton = G_DBUS_INTERFACE_SKELETON (iface);
  if (g_str_equal (g_dbus_method_invocation_get_interface_name (invocation),
                   "org.freedesktop.DBus.Properties"))
    answer_properties (skeleton, g_steal_pointer (&demand->invocation));
  else
    /* the skeleton's own handler: the lease's dispatcher, polkit and all,
     * as for a call to the exported object */
    g_dbus_interface_skeleton_get_vtable (skeleton)->method_call (
      g_dbus_method_invocation_get_connection (invocation),
      g_dbus_method_invocation_get_sender (invocation),
      g_dbus_method_invocation_get_object_path (invocation),
      g_dbus_method_invocation_get_interface_name (invocation),
      g_dbus_method_invocation_get_method_name (invocation),
      g_dbus_method_invocation_get_parameters (invocation),
      g_steal_pointer (&demand->invocation), skeleton);
  demand_free (demand);
}

static void
on_method_call (GDBusConnection *connection, const char *sender, const char *object_path,
                const char *interface_name, const char *method_name, GVariant *parameters,
                GDBusMethodInvocation *invocation, gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);
  Demand *demand = g_new0 (Demand, 1);

  demand->invocation = invocation;   /* ours now */
  demand->uuid = node_uuid (strrchr (object_path, '/') + 1);
  manager_find_lease_async (self, demand->uuid, on_found, demand);
}

static const GDBusInterfaceVTable demand_vtable = {
  on_method_call,
  NULL,   /* properties come to on_method_call: the lookup is asynchronous */
  NULL,
  { NULL }
};

/* The leases exported here: nothing else shows in the tree. */
static char **
on_enumerate (GDBusConnection *connection, const char *sender, const char *object_path,
              gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);
  GPtrArray *nodes = g_ptr_array_new ();
  GHashTableIter iter;
  VmlLease *lease;

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &lease))
    g_ptr_array_add (nodes, g_path_get_basename (vml_lease_get_object_path (lease)));
  g_ptr_array_add (nodes, NULL);
  return (char **) g_ptr_array_free (nodes, FALSE);
}

static GDBusInterfaceInfo **
on_introspect (GDBusConnection *connection, const char *sender, const char *object_path,
               const char *node, gpointer user_data)
{
  g_autofree char *uuid = node_uuid (node);
  GPtrArray *infos;

  if (uuid == NULL)
    return NULL;
  infos = g_ptr_array_new ();
  g_ptr_array_add (infos, g_dbus_interface_info_ref (vml_dbus_lease_interface_info ()));
  g_ptr_array_add (infos, NULL);
  return (GDBusInterfaceInfo **) g_ptr_array_free (infos, FALSE);
}

static const GDBusInterfaceVTable *
on_dispatch (GDBusConnection *connection, const char *sender, const char *object_path,
             const char *interface_name, const char *node, gpointer *out_user_data,
             gpointer user_data)
{
  g_autofree char *uuid = node_uuid (node);

  if (uuid == NULL)
    return NULL;
  *out_user_data = user_data;
  return &demand_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
  on_enumerate,
  on_introspect,
  on_dispatch,
  { NULL }
};

guint
manager_demand_register (VmlManager *self, GError **error)
{
  return g_dbus_connection_register_subtree (self->bus, LEASE_NODE_PREFIX, &subtree_vtable,
                                             G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                                             self, NULL, error);
}
