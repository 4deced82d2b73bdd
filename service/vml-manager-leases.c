/* vml-manager-leases.c: the Manager's lease methods — CreateLease, GetLease,
 * DeleteLease — after authorization, and how a lease is looked for on
 * storage (in a lockspace's index, or at an explicit location) before its
 * object is exported. The storage reads and writes themselves go through
 * vml-manager-sanlock.c; the objects are kept by vml-manager-tree.c. */
#include "config.h"

#include "vml-error.h"
#include "vml-log.h"
#include "vml-manager-private.h"
#include "vml-options.h"
#include "vml-read-pool.h"

/* GetLease of a UUID that no joined lockspace's index has is answered from
 * memory for INDEX_MISS_AGE_S after the lookup that found nothing, without
 * storage I/O: GetLease is open to everyone, and a caller repeating it must
 * not cost a read each time. Short, because a lease created from another
 * host meanwhile is only seen once the miss has expired; CreateLease and
 * DeleteLease here forget it at once, and a miss is only reused for the
 * same set of joined lockspaces. At most INDEX_MISSES_MAX are kept (all are
 * dropped when full: a flood of new UUIDs gains nothing from them anyway).
 * Found leases need no cache: their objects are exported and answer
 * GetLease from the table. */
#define INDEX_MISS_AGE_S  2
#define INDEX_MISSES_MAX  1024

typedef struct {
  gint64  at;          /* monotonic */
  char   *searched;    /* the joined lockspaces looked in, as the error names them */
} IndexMiss;

static void
index_miss_free (IndexMiss *miss)
{
  g_free (miss->searched);
  g_free (miss);
}

GHashTable *
manager_index_misses_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                (GDestroyNotify) index_miss_free);
}

static void
remember_miss (VmlManager *self, const char *uuid, const char *searched)
{
  IndexMiss *miss = g_new0 (IndexMiss, 1);

  miss->at = g_get_monotonic_time ();
  miss->searched = g_strdup (searched);
  if (g_hash_table_size (self->index_misses) >= INDEX_MISSES_MAX)
    g_hash_table_remove_all (self->index_misses);
  g_hash_table_insert (self->index_misses, g_strdup (uuid), miss);
}

/* The NotFound a recent miss gives again, or NULL. */
static GError *
recent_miss (VmlManager *self, const char *uuid, const char *searched)
{
  IndexMiss *miss = g_hash_table_lookup (self->index_misses, uuid);
  gint64 age;

  if (miss == NULL)
    return NULL;
  age = g_get_monotonic_time () - miss->at;
  if (age >= INDEX_MISS_AGE_S * G_USEC_PER_SEC || g_strcmp0 (miss->searched, searched) != 0)
    {
      g_hash_table_remove (self->index_misses, uuid);
      return NULL;
    }
  return g_error_new (VML_ERROR, VML_ERROR_NOT_FOUND,
                      "no lease for VM %s exists in %s (cached: looked up %.1f s ago; "
                      "misses are kept " G_STRINGIFY (INDEX_MISS_AGE_S) " s)", uuid, searched,
                      (double) age / G_USEC_PER_SEC);
}

/* Takes a caller-given uuid to the canonical (lower-case) form. */
static char *
canonical_uuid (const char *uuid, GError **error)
{
  if (!vml_check_uuid (uuid, error))
    return NULL;
  return g_ascii_strdown (uuid, -1);
}

static VmlLockspace *
joined_lockspace (VmlManager *self, const char *name, GError **error)
{
  VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, name);

  if (ls == NULL || !vml_lockspace_is_joined (ls))
    {
      g_set_error (error, VML_ERROR, VML_ERROR_LOCKSPACE_NOT_JOINED,
                   "this host has not joined a lockspace named '%s'%s; call AddLockspace first",
                   name, ls ? " (it failed or is still joining)" : "");
      return NULL;
    }
  return ls;
}

/* ---------------------------------------------------------------------- */
/* Finding and creating leases on storage (CreateLease, GetLease,         */
/* DeleteLease of a lease first seen here)                                */

typedef enum {
  LOCATE_CREATE,      /* find on storage, or make it */
  LOCATE_GET,         /* find on storage only */
  LOCATE_DELETE,      /* find, then delete */
} LocateGoal;

typedef struct {
  VmlManager            *self;
  GDBusMethodInvocation *invocation;
  GTask                 *then;         /* instead of answering: vml-manager-demand.c */
  LocateGoal             goal;
  char                  *uuid;
  char                  *name;
  GPtrArray             *lockspaces;   /* where to look (create: exactly one) */
  char                  *path;         /* explicit location, or NULL */
  guint64                offset;
  char                  *holder_path;  /* for the index lock */
  VmlLockspace          *create_in;    /* not in its index yet: to be made there */
  /* Results */
  VmlLockspace          *found_in;
  char                  *found_path;
  guint64                found_offset;
  gboolean               indexed;
} LocateData;

static void
locate_data_free (LocateData *data)
{
  g_hash_table_remove (data->self->pending, data->uuid);
  g_object_unref (data->self);
  g_clear_object (&data->invocation);
  g_clear_object (&data->then);
  g_free (data->uuid);
  g_free (data->name);
  g_ptr_array_unref (data->lockspaces);
  g_free (data->path);
  g_free (data->holder_path);
  g_free (data->found_path);
  g_free (data);
}

static gboolean
place_explicitly (LocateData *data, VmlLockspace *ls, GError **error)
{
  if (!manager_sanlock_place_lease (ls, data->uuid, data->path, data->offset,
                                    data->goal == LOCATE_CREATE, error))
    return FALSE;
  data->found_in = ls;
  data->found_path = g_strdup (data->path);
  data->found_offset = data->offset;
  return TRUE;
}

/* Runs under the index lock (on_located). */
static gboolean
find_or_add_locked (VmlLockspace *ls, gpointer user_data, GError **error)
{
  LocateData *data = user_data;

  return manager_sanlock_index_find_or_add (ls, data->uuid, &data->found_offset, error);
}

static gboolean
place_in_index (LocateData *data, VmlLockspace *ls, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!manager_sanlock_index_find (ls, data->uuid, &data->found_offset, &local_error))
    {
      /* Made under the index lock, from the main loop (on_located). */
      if (data->goal == LOCATE_CREATE &&
          g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
        {
          data->create_in = ls;
          return TRUE;
        }
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  data->found_in = ls;
  data->found_path = g_strdup (vml_lockspace_get_path (ls));
  data->indexed = TRUE;
  return TRUE;
}

/* How a NotFound names the lockspaces it looked in (all of them: the
 * search goes on while each says NotFound). */
static char *
describe_searched (GPtrArray *lockspaces)
{
  g_autoptr(GString) searched = g_string_new (NULL);

  if (lockspaces->len == 0)
    return g_strdup ("any lockspace: this host has joined none");
  for (guint i = 0; i < lockspaces->len; i++)
    g_string_append_printf (searched, "%s'%s'", searched->len ? ", " : "the joined lockspaces ",
                            vml_lockspace_get_name (lockspaces->pdata[i]));
  return g_string_free (g_steal_pointer (&searched), FALSE);
}

static void
locate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LocateData *data = task_data;
  g_autofree char *searched = NULL;

  for (guint i = 0; i < data->lockspaces->len; i++)
    {
      VmlLockspace *ls = data->lockspaces->pdata[i];
      GError *error = NULL;
      gboolean ok = data->path ? place_explicitly (data, ls, &error)
                               : place_in_index (data, ls, &error);

      if (ok)
        {
          g_task_return_boolean (task, TRUE);
          return;
        }
      if (!g_error_matches (error, VML_ERROR, VML_ERROR_NOT_FOUND) || data->goal == LOCATE_CREATE)
        {
          g_task_return_error (task, error);
          return;
        }
      g_clear_error (&error);
    }
  searched = describe_searched (data->lockspaces);
  g_task_return_new_error (task, VML_ERROR, VML_ERROR_NOT_FOUND,
                           "no lease for VM %s exists in %s", data->uuid, searched);
}

static void
on_lease_deleted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  VmlLease *lease = VML_LEASE (source);
  VmlManager *self = g_object_get_data (G_OBJECT (invocation), "vml-manager");
  GError *error = NULL;

  if (!vml_lease_delete_finish (lease, result, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  manager_unexport_lease (self, lease);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

/* Answered at once, not queued behind an Acquire that waits (up to an
 * hour) for another host: Busy, saying so. */
static void
delete_lease (VmlManager *self, GDBusMethodInvocation *invocation, VmlLease *lease)
{
  g_autofree char *waiting = vml_lease_describe_wait (lease);

  if (waiting != NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_BUSY,
                                             "cannot delete the lease now: %s; try again "
                                             "when it has ended", waiting);
      return;
    }
  g_object_set_data_full (G_OBJECT (invocation), "vml-manager", g_object_ref (self),
                          g_object_unref);
  vml_lease_delete_async (lease, on_lease_deleted, g_object_ref (invocation));
}

static VmlLease *
lease_from_location (VmlManager *self, LocateData *data)
{
  g_autoptr(VmlLease) lease = vml_lease_new (&self->ctx, data->uuid, data->name ? data->name : "",
                                             data->found_in, data->found_path,
                                             data->found_offset, data->indexed);
  g_autoptr(GError) error = NULL;

  manager_export_lease (self, lease);
  if (!vml_lease_save (lease, &error))
    vml_log_lease (G_LOG_LEVEL_WARNING, data->uuid, vml_lockspace_get_name (data->found_in),
                   NULL, "%s", error->message);
  return lease;
}

/* GetLease's and CreateLease's answer: the lease's object path. */
static void
return_lease_path (GDBusMethodInvocation *invocation, VmlLease *lease)
{
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(o)", vml_lease_get_object_path (lease)));
}

static void located (LocateData *data, GError *error);

static void
on_made_in_index (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  LocateData *data = g_task_get_task_data (task);
  VmlLockspace *ls = VML_LOCKSPACE (source);
  GError *error = NULL;

  if (vml_lockspace_run_locked_index_finish (ls, result, &error))
    {
      data->found_in = ls;
      data->found_path = g_strdup (vml_lockspace_get_path (ls));
      data->indexed = TRUE;
    }
  located (data, error);
}

static void
on_located (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LocateData *data = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error) && data->create_in != NULL)
    vml_lockspace_run_locked_index_async (data->create_in, data->holder_path,
                                          find_or_add_locked, data, on_made_in_index,
                                          g_object_ref (result));
  else
    located (data, error);
}

/* The lease is where @data says (or @error says why not): answer. */
static void
located (LocateData *data, GError *error)
{
  VmlManager *self = data->self;
  VmlLease *lease;

  if (error != NULL)
    {
      if (data->goal == LOCATE_GET && g_error_matches (error, VML_ERROR, VML_ERROR_NOT_FOUND))
        {
          g_autofree char *searched = describe_searched (data->lockspaces);

          remember_miss (self, data->uuid, searched);
        }
      if (data->then != NULL)
        g_task_return_error (data->then, error);
      else
        g_dbus_method_invocation_take_error (data->invocation, error);
      return;
    }
  lease = g_hash_table_lookup (self->leases, data->uuid);
  if (lease == NULL)
    lease = lease_from_location (self, data);
  if (data->then != NULL)
    g_task_return_pointer (data->then, g_object_ref (lease), g_object_unref);
  else if (data->goal == LOCATE_DELETE)
    delete_lease (self, data->invocation, lease);
  else
    return_lease_path (data->invocation, lease);
}

static void
locate_lease (VmlManager *self, GDBusMethodInvocation *invocation, LocateGoal goal,
              const char *uuid, GPtrArray *lockspaces, const char *name,
              const char *path, guint64 offset, GTask *then)
{
  g_autoptr(GTask) task = NULL;
  LocateData *data;

  if (g_hash_table_contains (self->pending, uuid))
    {
      GError *error = g_error_new (VML_ERROR, VML_ERROR_BUSY, "the lease of %s is being "
                                   "created or looked up right now; try again in a moment",
                                   uuid);

      if (then != NULL)
        g_task_return_error (then, error);
      else
        g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  g_hash_table_add (self->pending, g_strdup (uuid));
  data = g_new0 (LocateData, 1);
  data->self = g_object_ref (self);
  data->invocation = invocation ? g_object_ref (invocation) : NULL;
  data->then = then ? g_object_ref (then) : NULL;
  data->goal = goal;
  data->uuid = g_strdup (uuid);
  data->name = g_strdup (name);
  data->lockspaces = g_ptr_array_ref (lockspaces);
  data->path = g_strdup (path);
  data->offset = offset;
  data->holder_path = g_strdup (vml_holder_pool_get_holder_path (self->holders));
  task = g_task_new (self, NULL, on_located, NULL);
  g_task_set_task_data (task, data, (GDestroyNotify) locate_data_free);
  if (goal == LOCATE_GET)
    vml_read_pool_run (task, locate_thread);   /* open to everyone */
  else
    g_task_run_in_thread (task, locate_thread);
}

static GPtrArray *
joined_lockspaces (VmlManager *self)
{
  GPtrArray *joined = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) names = manager_sorted_lockspace_names (self);

  for (guint i = 0; i < names->len; i++)
    {
      VmlLockspace *ls = g_hash_table_lookup (self->lockspaces, names->pdata[i]);

      if (vml_lockspace_is_joined (ls))
        g_ptr_array_add (joined, g_object_ref (ls));
    }
  return joined;
}

/* ---------------------------------------------------------------------- */
/* CreateLease, GetLease, DeleteLease                                     */

static const VmlOptionSpec create_lease_options[] = {
  { "name", "s" },
  { "path", "s" },
  { "offset", "t" },
  { NULL }
};

/* An explicit location must not overwrite a lockspace or its index. */
static gboolean
check_explicit_location (VmlManager *self, const char *path, guint64 offset, GError **error)
{
  GHashTableIter iter;
  VmlLockspace *ls;

  if (!vml_check_storage_path (path, error) || !vml_check_aligned_offset (offset, error) ||
      !vml_check_storage_range (path, offset, MANAGER_LEASE_AREA_SIZE, error))
    return FALSE;
  g_hash_table_iter_init (&iter, self->lockspaces);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &ls))
    {
      guint64 start = vml_lockspace_get_offset (ls);

      if (g_str_equal (vml_lockspace_get_path (ls), path) &&
          offset >= start && offset < start + MANAGER_LOCKSPACE_AREA_SIZE)
        {
          g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                       "offset %" G_GUINT64_FORMAT " of %s lies inside lockspace '%s' and its "
                       "resource index (%" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT ")",
                       offset, path, vml_lockspace_get_name (ls), start,
                       start + MANAGER_LOCKSPACE_AREA_SIZE);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
parse_create_options (VmlManager *self, GVariant *options, const char **name,
                      const char **path, guint64 *offset, GError **error)
{
  gboolean has_path, has_offset;

  if (!vml_options_check (options, "CreateLease", create_lease_options, error))
    return FALSE;
  if (g_variant_lookup (options, "name", "&s", name) && !vml_check_vm_name (*name, error))
    return FALSE;
  has_path = g_variant_lookup (options, "path", "&s", path);
  has_offset = g_variant_lookup (options, "offset", "t", offset);
  if (has_path != has_offset)
    {
      g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                           "options 'path' and 'offset' go together: give both to place the "
                           "lease yourself, or neither to allocate it from the lockspace's index");
      return FALSE;
    }
  return !has_path || check_explicit_location (self, *path, *offset, error);
}

void
manager_create_lease_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlManager *self = VML_MANAGER (object);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GPtrArray) where = NULL;
  g_autofree char *uuid = NULL;
  const char *raw_uuid, *ls_name, *name = "", *path = NULL;
  guint64 offset = 0;
  VmlLockspace *ls;
  VmlLease *existing;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s@a{sv})",
                 &raw_uuid, &ls_name, &options);
  if (!(uuid = canonical_uuid (raw_uuid, &error)) ||
      !vml_check_lockspace_name (ls_name, &error) ||
      !parse_create_options (self, options, &name, &path, &offset, &error) ||
      !(ls = joined_lockspace (self, ls_name, &error)))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  existing = g_hash_table_lookup (self->leases, uuid);
  if (existing != NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VML_ERROR, VML_ERROR_EXISTS,
                                             "a lease for VM %s already exists here: %s",
                                             uuid, vml_lease_get_object_path (existing));
      return;
    }
  where = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (where, g_object_ref (ls));
  g_hash_table_remove (self->index_misses, uuid);
  locate_lease (self, invocation, LOCATE_CREATE, uuid, where, name, path, offset, NULL);
}

void
manager_get_lease_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlManager *self = VML_MANAGER (object);
  g_autoptr(GPtrArray) where = NULL;
  g_autofree char *uuid = NULL, *searched = NULL;
  const char *raw_uuid;
  VmlLease *lease;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &raw_uuid);
  if (!(uuid = canonical_uuid (raw_uuid, &error)))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  lease = g_hash_table_lookup (self->leases, uuid);
  if (lease != NULL)
    {
      return_lease_path (invocation, lease);
      return;
    }
  where = joined_lockspaces (self);
  searched = describe_searched (where);
  if ((error = recent_miss (self, uuid, searched)) != NULL)
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  locate_lease (self, invocation, LOCATE_GET, uuid, where, NULL, NULL, 0, NULL);
}

void
manager_find_lease_async (VmlManager *self, const char *uuid, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_autoptr(GTask) then = g_task_new (self, NULL, callback, user_data);
  g_autoptr(GPtrArray) where = NULL;
  g_autofree char *searched = NULL;
  VmlLease *lease = g_hash_table_lookup (self->leases, uuid);
  GError *error = NULL;

  if (lease != NULL)
    {
      g_task_return_pointer (then, g_object_ref (lease), g_object_unref);
      return;
    }
  where = joined_lockspaces (self);
  searched = describe_searched (where);
  if ((error = recent_miss (self, uuid, searched)) != NULL)
    g_task_return_error (then, error);
  else
    locate_lease (self, NULL, LOCATE_GET, uuid, where, NULL, NULL, 0, then);
}

void
manager_delete_lease_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlManager *self = VML_MANAGER (object);
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GPtrArray) where = NULL;
  g_autofree char *uuid = NULL;
  static const VmlOptionSpec no_options[] = { { NULL } };
  const char *raw_uuid;
  VmlLease *lease;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})",
                 &raw_uuid, &options);
  if (!(uuid = canonical_uuid (raw_uuid, &error)) ||
      !vml_options_check (options, "DeleteLease", no_options, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  g_hash_table_remove (self->index_misses, uuid);
  lease = g_hash_table_lookup (self->leases, uuid);
  if (lease != NULL)
    {
      delete_lease (self, invocation, lease);
      return;
    }
  where = joined_lockspaces (self);
  locate_lease (self, invocation, LOCATE_DELETE, uuid, where, NULL, NULL, 0, NULL);
}

