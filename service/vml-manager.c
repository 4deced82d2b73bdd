/* vml-manager.c: see vml-manager.h. Lockspaces (AddLockspace,
 * RemoveLockspace, LockspaceChanged), start-up, and the D-Bus object; the
 * lease methods are in vml-manager-leases.c. */
#include "config.h"

#include "vml-authority.h"
#include "vml-dbus-generated.h"
#include "vml-dispatch.h"
#include "vml-error.h"
#include "vml-holder-pool.h"
#include "vml-lease.h"
#include "vml-lockspace.h"
#include "vml-manager.h"
#include "vml-manager-private.h"
#include "vml-options.h"
#include "vml-sanlock.h"
#include "vml-storage-monitor.h"
#include "vml-store.h"

/* Holders kept registered and ready; one hides the process start from a
 * lone Acquire, a burst of them starts the rest on the spot. */
#define SPARE_HOLDERS   1


G_DEFINE_TYPE (VmlManager, vml_manager, G_TYPE_OBJECT)

/* ---------------------------------------------------------------------- */
/* Lockspace bookkeeping                                                  */

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char **) a, *(const char **) b);
}

/* Lockspace names in a stable order, so listings do not shuffle. */
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

static void
publish_lockspaces (VmlManager *self)
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

static void
emit_lockspace_changed (VmlManager *self, VmlLockspace *ls, const char *state, const char *error)
{
  vml_dbus_manager_emit_lockspace_changed (self->iface, vml_lockspace_get_name (ls), state,
                                           vml_lockspace_details (ls, error));
}

static void
on_lockspace_state (VmlLockspace *ls, GParamSpec *pspec, gpointer user_data)
{
  VmlManager *self = VML_MANAGER (user_data);

  publish_lockspaces (self);
  emit_lockspace_changed (self, ls,
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

static void
add_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_hash_table_insert (self->lockspaces, g_strdup (vml_lockspace_get_name (ls)), g_object_ref (ls));
  g_signal_connect_object (ls, "notify::state", G_CALLBACK (on_lockspace_state), self, 0);
  g_signal_connect_object (ls, "message", G_CALLBACK (on_lockspace_message), self, 0);
  vml_storage_monitor_watch (self->storage, ls);
  publish_lockspaces (self);
}

static void
drop_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_signal_handlers_disconnect_by_data (ls, self);
  vml_storage_monitor_unwatch (self->storage, ls);
  g_hash_table_remove (self->lockspaces, vml_lockspace_get_name (ls));
  publish_lockspaces (self);
}

static void
save_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_autoptr(GKeyFile) record = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  vml_lockspace_to_keyfile (ls, record, "lockspace");
  if (!vml_store_save (self->store, VML_RECORD_LOCKSPACE, vml_lockspace_get_name (ls), record,
                       &error))
    g_warning ("Lockspace %s will not be re-joined at the next start: %s",
               vml_lockspace_get_name (ls), error->message);
}

/* A lockspace other than @name already at @path:@offset. */
static VmlLockspace *
lockspace_at (VmlManager *self, const char *name, const char *path, guint64 offset)
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
/* Lease bookkeeping                                                      */


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
    g_warning ("%s", error->message);
  g_signal_handlers_disconnect_by_data (lease, self);
  g_dbus_object_manager_server_unexport (self->object_manager, vml_lease_get_object_path (lease));
  g_hash_table_remove (self->leases, vml_lease_get_uuid (lease));
}

static GPtrArray *
leases_in (VmlManager *self, VmlLockspace *ls)
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
          emit_lockspace_changed (self, ls, "removed", error->message);
          drop_lockspace (self, ls);
        }
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  save_lockspace (self, ls);
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

static void
add_lockspace_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
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
      !vml_check_storage_range (path, offset, VML_LOCKSPACE_AREA_SIZE, &error))
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
  other = lockspace_at (self, name, path, offset);
  if (other != NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_EXISTS,
                                             "lockspace '%s' already lives at %s offset %"
                                             G_GUINT64_FORMAT, vml_lockspace_get_name (other),
                                             path, offset);
      return;
    }
  add_lockspace (self, wanted);
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
forget_lockspace (VmlManager *self, VmlLockspace *ls)
{
  g_autoptr(GPtrArray) leases = leases_in (self, ls);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < leases->len; i++)
    manager_unexport_lease (self, leases->pdata[i]);
  if (!vml_store_remove (self->store, VML_RECORD_LOCKSPACE, vml_lockspace_get_name (ls), &error))
    g_warning ("%s", error->message);
  drop_lockspace (self, ls);
}

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
  forget_lockspace (data->self, data->ls);
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
      forget_lockspace (data->self, data->ls);
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
  g_autoptr(GPtrArray) leases = leases_in (self, ls);
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

static void
remove_lockspace_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
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
  leases = leases_in (self, ls);
  for (guint i = 0; i < leases->len; i++)
    if (vml_lease_is_held (leases->pdata[i]))
      {
        data->releases_pending++;
        vml_lease_drop_async (leases->pdata[i], "lockspace-removed", on_forced_release, data);
      }
  if (data->releases_pending == 0)
    leave_when_released (data);
}

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
  { "AddLockspace",    describe_lockspace_arg, add_lockspace_authorized },
  { "RemoveLockspace", describe_lockspace_arg, remove_lockspace_authorized },
  { "CreateLease",     describe_vm_arg,        manager_create_lease_authorized },
  { "DeleteLease",     describe_vm_arg,        manager_delete_lease_authorized },
  { "GetLease",        describe_vm_arg,        manager_get_lease_authorized },
};

/* ---------------------------------------------------------------------- */
/* Start-up: configured and remembered lockspaces, then leases            */

#define CONFIG_LOCKSPACE_PREFIX "lockspace "

static void
on_startup_join (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VmlManager) self = user_data;
  VmlLockspace *ls = VML_LOCKSPACE (source);

  /* A failure was logged and shows as state "lost"; AddLockspace retries. */
  if (vml_lockspace_join_finish (ls, result, NULL))
    save_lockspace (self, ls);
}

void
manager_rejoin_lockspace (VmlManager *self, VmlLockspace *ls)
{
  vml_lockspace_join_async (ls, FALSE, on_startup_join, g_object_ref (self));
}

static void
take_lockspace (VmlManager *self, VmlLockspace *ls, const char *origin)
{
  VmlLockspace *known = g_hash_table_lookup (self->lockspaces, vml_lockspace_get_name (ls));

  if (known != NULL)
    {
      if (!vml_lockspace_same_place (known, ls))
        g_warning ("Lockspace %s from %s differs from the configured one; using the configuration",
                   vml_lockspace_get_name (ls), origin);
      return;
    }
  add_lockspace (self, ls);
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

      if (!g_str_has_prefix (groups[i], CONFIG_LOCKSPACE_PREFIX))
        continue;
      ls = vml_lockspace_new_from_keyfile (config, groups[i],
                                           groups[i] + strlen (CONFIG_LOCKSPACE_PREFIX), &error);
      if (ls == NULL)
        g_warning ("Ignoring configured lockspace: %s", error->message);
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
        g_warning ("Ignoring remembered lockspace: %s", error->message);
      else
        take_lockspace (self, ls, "the state directory");
    }
}

gboolean
vml_manager_start (VmlManager *self, GKeyFile *config, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  vml_dbus_manager_set_version (self->iface, VERSION);
  publish_lockspaces (self);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->iface), self->bus,
                                         VML_MANAGER_PATH, &local_error))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "cannot export %s: %s",
                   VML_MANAGER_PATH, local_error->message);
      return FALSE;
    }
  g_dbus_object_manager_server_set_connection (self->object_manager, self->bus);

  if (!vml_sanlock_ping (&local_error))
    g_warning ("%s; lockspaces cannot be joined until it runs", local_error->message);
  manager_watch_sanlock (self, local_error == NULL);
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
