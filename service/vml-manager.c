/* vml-manager.c: see vml-manager.h. The object itself: its construction,
 * its method table, and start-up (the configured and remembered
 * lockspaces, then the leases). The top of the manager's files
 * (vml-manager-private.h): the methods are in vml-manager-lockspaces.c and
 * vml-manager-leases.c. */
#include "config.h"

#include "vml-authority.h"
#include "vml-dbus-generated.h"
#include "vml-dispatch.h"
#include "vml-error.h"
#include "vml-holder-pool.h"
#include "vml-log.h"
#include "vml-manager.h"
#include "vml-manager-private.h"
#include "vml-store.h"

/* Holders kept registered and ready; one hides the process start from a
 * lone Acquire, a burst of them starts the rest on the spot. */
#define SPARE_HOLDERS   1

G_DEFINE_TYPE (VmlManager, vml_manager, G_TYPE_OBJECT)

/* ---------------------------------------------------------------------- */
/* D-Bus dispatch: each member goes through the authority first.          */

/* The agent is shown what a call is about: the first argument names the
 * lockspace or the VM's UUID. */
static void
describe_lockspace_arg (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);

  g_variant_get_child (params, 0, "&s", &target->lockspace);
}

static void
describe_vm_arg (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);

  g_variant_get_child (params, 0, "&s", &target->vm_uuid);
}

static const VmlMethod manager_methods[] = {
  { "AddLockspace",    describe_lockspace_arg, manager_add_lockspace_authorized },
  { "RemoveLockspace", describe_lockspace_arg, manager_remove_lockspace_authorized },
  { "CreateLease",     describe_vm_arg,        manager_create_lease_authorized },
  { "DeleteLease",     describe_vm_arg,        manager_delete_lease_authorized },
  { "GetLease",        describe_vm_arg,        manager_get_lease_authorized },
};

/* ---------------------------------------------------------------------- */
/* Start-up: configured and remembered lockspaces, then leases            */

#define CONFIG_LOCKSPACE_PREFIX "lockspace "

static void
take_lockspace (VmlManager *self, VmlLockspace *ls, const char *origin)
{
  VmlLockspace *known = g_hash_table_lookup (self->lockspaces, vml_lockspace_get_name (ls));

  if (known != NULL)
    {
      if (!vml_lockspace_same_place (known, ls))
        vml_log_lockspace (G_LOG_LEVEL_WARNING, vml_lockspace_get_name (ls), NULL,
                           "Lockspace %s from %s differs from the configured one; using the "
                           "configuration", vml_lockspace_get_name (ls), origin);
      return;
    }
  manager_add_lockspace (self, ls);
  manager_rejoin_lockspace (self, ls);
}

static void
load_configured_lockspaces (VmlManager *self, GKeyFile *config)
{
  g_auto(GStrv) groups = config ? g_key_file_get_groups (config, NULL) : NULL;

  for (guint i = 0; groups && groups[i]; i++)
    {
      g_autoptr(VmlLockspace) ls = NULL;
      g_autoptr(GError) error = NULL;
      const char *name;

      if (!g_str_has_prefix (groups[i], CONFIG_LOCKSPACE_PREFIX))
        continue;
      name = groups[i] + strlen (CONFIG_LOCKSPACE_PREFIX);
      ls = vml_lockspace_new_from_keyfile (config, groups[i], name, &error);
      if (ls == NULL)
        vml_log_lockspace (G_LOG_LEVEL_WARNING, name, NULL,
                           "Ignoring configured lockspace: %s", error->message);
      else
        take_lockspace (self, ls, "the configuration");
    }
}

static void
load_remembered_lockspaces (VmlManager *self)
{
  g_autoptr(GHashTable) records = vml_store_load_all (self->store, VML_RECORD_LOCKSPACE);
  GHashTableIter iter;
  const char *name;
  GKeyFile *record;

  g_hash_table_iter_init (&iter, records);
  while (g_hash_table_iter_next (&iter, (gpointer *) &name, (gpointer *) &record))
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VmlLockspace) ls = vml_lockspace_new_from_keyfile (record, "lockspace", name,
                                                                   &error);

      if (ls == NULL)
        vml_log_lockspace (G_LOG_LEVEL_WARNING, name, NULL,
                           "Ignoring remembered lockspace: %s", error->message);
      else
        take_lockspace (self, ls, "the state directory");
    }
}

gboolean
vml_manager_start (VmlManager *self, GKeyFile *config, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  vml_dbus_manager_set_version (self->iface, VERSION);
  manager_publish_lockspaces (self);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->iface), self->bus,
                                         VML_MANAGER_PATH, &local_error))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "cannot export %s: %s",
                   VML_MANAGER_PATH, local_error->message);
      return FALSE;
    }
  g_dbus_object_manager_server_set_connection (self->object_manager, self->bus);
  if (manager_demand_register (self, &local_error) == 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "cannot serve lease objects on "
                   "demand: %s", local_error->message);
      return FALSE;
    }
  manager_watch_sanlock (self);
  vml_holder_pool_fill (self->holders);
  load_configured_lockspaces (self, config);
  load_remembered_lockspaces (self);
  manager_restore_leases (self);
  return TRUE;
}

/* ---------------------------------------------------------------------- */

static void
vml_manager_dispose (GObject *object)
{
  VmlManager *self = VML_MANAGER (object);

  if (self->iface)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->iface));
  g_clear_handle_id (&self->probe_id, g_source_remove);
  g_clear_pointer (&self->rejoining, g_hash_table_unref);
  g_clear_pointer (&self->leases, g_hash_table_unref);
  g_clear_pointer (&self->lockspaces, g_hash_table_unref);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->index_misses, g_hash_table_unref);
  g_clear_object (&self->storage);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->iface);
  g_clear_object (&self->authority);
  g_clear_object (&self->holders);
  g_clear_object (&self->store);
  g_clear_object (&self->bus);
  G_OBJECT_CLASS (vml_manager_parent_class)->dispose (object);
}

static void
vml_manager_class_init (VmlManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vml_manager_dispose;
}

static void
vml_manager_init (VmlManager *self)
{
  self->lockspaces = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->leases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->index_misses = manager_index_misses_new ();
  self->storage = vml_storage_monitor_new ();
}

VmlManager *
vml_manager_new (GDBusConnection *bus, const char *state_dir, const char *holder_path,
                 GError **error)
{
  g_autoptr(VmlManager) self = g_object_new (VML_TYPE_MANAGER, NULL);

  self->store = vml_store_new (state_dir, error);
  if (self->store == NULL)
    return NULL;
  self->bus = g_object_ref (bus);
  self->authority = vml_authority_new (bus);
  self->holders = vml_holder_pool_new (holder_path, SPARE_HOLDERS);
  self->ctx.authority = self->authority;
  self->ctx.store = self->store;
  self->ctx.holders = self->holders;
  self->object_manager = g_dbus_object_manager_server_new (VML_MANAGER_PATH);
  self->iface = vml_dbus_manager_skeleton_new ();
  vml_dispatch_serve (G_OBJECT (self), G_DBUS_INTERFACE_SKELETON (self->iface), self->authority,
                      manager_methods, G_N_ELEMENTS (manager_methods));
  return g_steal_pointer (&self);
}
