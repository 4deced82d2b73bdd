/* vml-manager-tree.c: what the Manager has — the lockspaces this host uses
 * and the lease objects below /org/example/VMLease — in its tables, on the
 * bus (the Lockspaces properties, LockspaceChanged, the ObjectManager) and
 * in the state directory (lockspace records). The lowest of the manager's
 * files (vml-manager-private.h): it calls none of the others. */
#include "config.h"

#include "vml-log.h"
#include "vml-manager-private.h"

/* ---------------------------------------------------------------------- */
/* Lockspaces                                                             */

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char **) a, *(const char **) b);
}

GPtrArray *
manager_sorted_lockspace_names (VmlManager *self)
{
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init (&iter, self->lockspaces);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    g_ptr_array_add (names, name);
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* A lockspace's entry in LockspaceDetails: its details plus its state. */
static GVariant *
lockspace_entry (VmlLockspace *ls)
{
  g_autoptr(GVariant) details = g_variant_ref_sink (vml_lockspace_details (ls, NULL));
  GVariantDict dict;

  g_variant_dict_init (&dict, details);
  g_variant_dict_insert (&dict, "state", "s",
                         vml_lockspace_state_to_string (vml_lockspace_get_state (ls)));
  return g_variant_dict_end (&dict);
}

void
manager_publish_lockspaces (VmlManager *self)
{
  g_autoptr(GPtrArray) names = manager_sorted_lockspace_names (self);
  GVariantBuilder builder, details;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ststsu)"));
  g_variant_builder_init (&details, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (guint i = 0; i < names->len; i++)
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, names->pdata[i]);

      g_variant_builder_add_value (&builder, vml_lockspace_to_variant (ls));
      g_variant_builder_add (&details, "{s@a{sv}}", names->pdata[i], lockspace_entry (ls));
    }
  vml_dbus_manager_set_lockspaces (self->iface, g_variant_builder_end (&builder));
  vml_dbus_manager_set_lockspace_details (self->iface, g_variant_builder_end (&details));
}

void
manager_emit_lockspace_changed (VmlManager *self, VmlLockspace *ls, const char *state,
                                const char *error)
{
  vml_dbus_manager_emit_lockspace_changed (self->iface, vml_lockspace_get_name (ls), state,
                                           vml_lockspace_details (ls, error));
}

static void
on_lockspace_state (VmlLockspace *ls, GParamSpec *pspec, gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);

  manager_publish_lockspaces (self);
  manager_emit_lockspace_changed (self, ls,
                                  vml_lockspace_state_to_string (vml_lockspace_get_state (ls)),
                                  vml_lockspace_get_error (ls));
}

/* A message from another host of @ls: today only "hand this lease over",
 * its event the lease's message key. */
static void
on_lockspace_message (VmlLockspace *ls, guint64 from_host, guint64 from_generation,
                      guint64 event, guint64 data, gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);
  GHashTableIter iter;
  VmlLease *lease;

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &lease))
    if (vml_lease_get_lockspace (lease) == ls && vml_lease_get_message_key (lease) == event)
      vml_lease_transfer_requested (lease, from_host, from_generation, data);
}

void
manager_add_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_hash_table_insert (self->lockspaces, g_strdup (vml_lockspace_get_name (ls)), g_object_ref (ls));
  g_signal_connect_object (ls, "notify::state", G_CALLBACK (on_lockspace_state), self, 0);
  g_signal_connect_object (ls, "message", G_CALLBACK (on_lockspace_message), self, 0);
  vml_storage_monitor_watch (self->storage, ls);
  manager_publish_lockspaces (self);
}

void
manager_drop_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_signal_handlers_disconnect_by_data (ls, self);
  vml_storage_monitor_unwatch (self->storage, ls);
  g_hash_table_remove (self->lockspaces, vml_lockspace_get_name (ls));
  manager_publish_lockspaces (self);
}

void
manager_save_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_autoptr(GKeyFile) record = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  vml_lockspace_to_keyfile (ls, record, "lockspace");
  if (!vml_store_save (self->store, VML_RECORD_LOCKSPACE, vml_lockspace_get_name (ls), record,
                       &error))
    vml_log_lockspace (G_LOG_LEVEL_WARNING, vml_lockspace_get_name (ls), NULL,
                       "Lockspace %s will not be re-joined at the next start: %s",
                       vml_lockspace_get_name (ls), error->message);
}

void
manager_forget_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_autoptr(GPtrArray) leases = manager_leases_in (self, ls);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < leases->len; i++)
    manager_unexport_lease (self, leases->pdata[i]);
  if (!vml_store_remove (self->store, VML_RECORD_LOCKSPACE, vml_lockspace_get_name (ls), &error))
    vml_log_lockspace (G_LOG_LEVEL_WARNING, vml_lockspace_get_name (ls), NULL,
                       "%s", error->message);
  manager_drop_lockspace (self, ls);
}

static void
on_rejoined (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VmlManager) self = user_data;
  VmlLockspace *ls = VML_LOCKSPACE (source);

  /* A failure was logged and shows as state "lost"; AddLockspace retries. */
  if (vml_lockspace_join_finish (ls, result, NULL))
    manager_save_lockspace (self, ls);
}

void
manager_rejoin_lockspace (VmlManager *self, VmlLockspace *ls)
{
  vml_lockspace_join_async (ls, FALSE, on_rejoined, g_object_ref (self));
}

VmlLockspace *
manager_lockspace_at (VmlManager *self, const char *name, const char *path, guint64 offset)
{
  GHashTableIter iter;
  VmlLockspace *ls;

  g_hash_table_iter_init (&iter, self->lockspaces);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &ls))
    if (!g_str_equal (vml_lockspace_get_name (ls), name) &&
        g_str_equal (vml_lockspace_get_path (ls), path) && vml_lockspace_get_offset (ls) == offset)
      return ls;
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Lease objects                                                          */

static void
on_lease_vanished (VmlLease *lease, gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);

  if (g_hash_table_lookup (self->leases, vml_lease_get_uuid (lease)) == lease)
    manager_unexport_lease (self, lease);
}

void
manager_export_lease (VmlManager *self, VmlLease *lease)
{
  g_signal_connect_object (lease, "vanished", G_CALLBACK (on_lease_vanished), self, 0);
  g_hash_table_insert (self->leases, g_strdup (vml_lease_get_uuid (lease)), g_object_ref (lease));
  g_dbus_object_manager_server_export (self->object_manager, vml_lease_get_object (lease));
}

void
manager_unexport_lease (VmlManager *self, VmlLease *lease)
{
  g_autoptr(GError) error = NULL;

  if (!vml_lease_forget (lease, &error))
    vml_log_lease (G_LOG_LEVEL_WARNING, vml_lease_get_uuid (lease),
                   vml_lockspace_get_name (vml_lease_get_lockspace (lease)), NULL,
                   "%s", error->message);
  g_signal_handlers_disconnect_by_data (lease, self);
  g_dbus_object_manager_server_unexport (self->object_manager, vml_lease_get_object_path (lease));
  g_hash_table_remove (self->leases, vml_lease_get_uuid (lease));
}

GPtrArray *
manager_leases_in (VmlManager *self, VmlLockspace *ls)
{
  GPtrArray *found = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  VmlLease *lease;

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &lease))
    if (vml_lease_get_lockspace (lease) == ls)
      g_ptr_array_add (found, g_object_ref (lease));
  return found;
}
