/* vml-lease-sanlock.c: see vml-lease-sanlock.h. The disk leases' calls
 * are in vml-lease-sanlock-disks.c. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-sanlock.h"
#include "vml-lease-sanlock-private.h"
#include "vml-mode-block.h"
#include "vml-sanlock.h"
#include "vml-transfer-note.h"

VmlLeaseSanlock *
lease_sanlock_new (const char *uuid, VmlLockspace *lockspace, const char *path, guint64 offset)
{
  VmlLeaseSanlock *door = g_new0 (VmlLeaseSanlock, 1);

  g_mutex_init (&door->cmd_lock);
  g_mutex_init (&door->offsets_lock);
  door->disk_offsets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  door->uuid = g_strdup (uuid);
  door->lockspace = g_object_ref (lockspace);
  door->path = g_strdup (path);
  door->offset = offset;
  return door;
}

void
lease_sanlock_free (VmlLeaseSanlock *door)
{
  g_mutex_clear (&door->cmd_lock);
  g_mutex_clear (&door->offsets_lock);
  g_hash_table_unref (door->disk_offsets);
  g_free (door->uuid);
  g_clear_object (&door->lockspace);
  g_free (door->path);
  g_free (door);
}

static void
resource_of (VmlLeaseSanlock *door, VmlSanlockResource *res)
{
  res->lockspace = vml_lockspace_get_name (door->lockspace);
  res->name = door->uuid;
  res->path = door->path;
  res->offset = door->offset;
  /* Only writing a fresh area (clear) needs it; every other call finds the
   * lease's own on storage, and this runs on every sanlock call. */
  res->sector_size = 0;
}

guint64
lease_sanlock_max_host_id (VmlLeaseSanlock *door)
{
  return vml_sanlock_max_host_id (vml_lockspace_get_sector_size (door->lockspace));
}

/* ---------------------------------------------------------------------- */
/* What storage says                                                      */

void
lease_owners_free (VmlLeaseOwners *owners)
{
  g_clear_pointer (&owners->shared_owners, g_array_unref);
  g_clear_pointer (&owners->live_hosts, g_array_unref);
  g_free (owners);
}

gboolean
lease_owners_hold_shared (const VmlLeaseOwners *owners, guint64 host_id)
{
  for (guint i = 0; i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) == host_id)
      return TRUE;
  return FALSE;
}

static VmlLeaseOwners *
owners_taken_from (VmlSanlockOwners *read)
{
  VmlLeaseOwners *owners;

  if (read == NULL)
    return NULL;
  owners = g_new0 (VmlLeaseOwners, 1);
  owners->lver = read->lver;
  owners->owner = read->owner;
  owners->owner_generation = read->owner_generation;
  owners->shared_owners = g_steal_pointer (&read->shared_owners);
  owners->owners_live = read->owners_live;
  owners->live_hosts = g_steal_pointer (&read->live_hosts);
  vml_sanlock_owners_free (read);
  return owners;
}

VmlLeaseOwners *
lease_sanlock_read_owners_of (const VmlSanlockResource *res, GError **error)
{
  return owners_taken_from (vml_sanlock_read_owners (res, error));
}

VmlLeaseOwners *
lease_sanlock_read_owners (VmlLeaseSanlock *door, GError **error)
{
  VmlSanlockResource res;

  resource_of (door, &res);
  return lease_sanlock_read_owners_of (&res, error);
}

gboolean
lease_sanlock_host_generation (VmlLeaseSanlock *door, guint64 host_id, guint64 *generation,
                               gboolean *live, GError **error)
{
  g_autoptr(GArray) hosts = vml_sanlock_get_hosts (vml_lockspace_get_name (door->lockspace),
                                                   error);

  *generation = 0;
  *live = FALSE;
  if (hosts == NULL)
    return FALSE;
  for (guint i = 0; i < hosts->len; i++)
    {
      VmlSanlockHost *h = &g_array_index (hosts, VmlSanlockHost, i);

      if (h->host_id == host_id)
        {
          *generation = h->generation;
          /* UNKNOWN: sanlock has not watched it renew yet (the first
           * seconds after joining); only FREE and DEAD mean gone. */
          *live = h->state != VML_HOST_FREE && h->state != VML_HOST_DEAD;
        }
    }
  return TRUE;
}

gboolean
lease_sanlock_read_mode_block (VmlLeaseSanlock *door, guint64 host_id, gboolean *shared,
                               guint64 *generation, guint64 *lver, GError **error)
{
  VmlModeBlock block;

  if (!vml_mode_block_read (door->path, door->offset, door->uuid, host_id, &block, error))
    return FALSE;
  *shared = block.shared;
  *generation = block.generation;
  *lver = block.lver;
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Pid-targeted commands on behalf of a holder, one at a time per lease   */

gboolean
lease_sanlock_convert (VmlLeaseSanlock *door, VmlHolder *holder, gboolean to_shared,
                       GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  resource_of (door, &res);
  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_convert (&res, vml_holder_get_pid (holder), to_shared, error);
  g_mutex_unlock (&door->cmd_lock);
  return ok;
}

gboolean
lease_sanlock_release (VmlLeaseSanlock *door, VmlHolder *holder, GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  resource_of (door, &res);
  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_release (&res, vml_holder_get_pid (holder), error);
  g_mutex_unlock (&door->cmd_lock);
  return ok;
}

gboolean
lease_sanlock_acquire (VmlLeaseSanlock *door, VmlHolder *holder, gboolean shared, guint64 lver,
                       guint64 *lver_out, GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  resource_of (door, &res);
  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (holder), shared, lver, lver_out, error);
  g_mutex_unlock (&door->cmd_lock);
  return ok;
}

gboolean
lease_sanlock_inquire_holder (VmlLeaseSanlock *door, pid_t pid, gboolean *held,
                              gboolean *shared, guint64 *lver, GError **error)
{
  gboolean ok;

  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_inquire_holder (pid, door->uuid, held, shared, lver, error);
  g_mutex_unlock (&door->cmd_lock);
  return ok;
}

gboolean
lease_sanlock_holder_holds_any (pid_t pid)
{
  gboolean any = FALSE;

  vml_sanlock_holder_holds_any (pid, &any, NULL);
  return any;
}

gboolean
lease_sanlock_acquire_attempt (VmlLeaseSanlock *door, VmlHolder *holder, gboolean shared,
                               GCancellable *cancellable, guint64 *lver_out,
                               gboolean *caller_left, GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  *caller_left = FALSE;
  resource_of (door, &res);
  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (holder), shared, 0, lver_out, error);
  if (ok && shared && lease_sanlock_marked_elsewhere (door, error))
    {
      vml_sanlock_release (&res, vml_holder_get_pid (holder), NULL);
      ok = FALSE;
    }
  else if (ok && g_cancellable_is_cancelled (cancellable))
    {
      /* ... nor when the caller left during sanlock's acquire */
      vml_sanlock_release (&res, vml_holder_get_pid (holder), NULL);
      *caller_left = TRUE;
      ok = FALSE;
    }
  g_mutex_unlock (&door->cmd_lock);
  return ok;
}

gboolean
lease_sanlock_request (VmlLeaseSanlock *door, guint64 lver, GError **error)
{
  VmlSanlockResource res;

  resource_of (door, &res);
  return vml_sanlock_request (&res, lver, error);
}

gboolean
lease_sanlock_send_message (VmlLeaseSanlock *door, guint64 host_id, guint64 generation,
                            guint64 event, guint64 data, GError **error)
{
  return vml_sanlock_event_send (vml_lockspace_get_name (door->lockspace), host_id, generation,
                                 event, data, error);
}

/* ---------------------------------------------------------------------- */
/* The transfer marker                                                    */

static char *
marker_name (VmlLeaseSanlock *door)
{
  return g_strconcat ("x-", door->uuid, NULL);
}

gboolean
lease_sanlock_holder_holds_only_marker (VmlLeaseSanlock *door, pid_t pid)
{
  g_autoptr(GPtrArray) held = vml_sanlock_holder_resources (pid, NULL);
  g_autofree char *marker = marker_name (door);
  VmlSanlockHeld *only;

  if (held == NULL || held->len != 1)
    return FALSE;
  only = held->pdata[0];
  return g_strcmp0 (only->name, marker) == 0 &&
         g_strcmp0 (only->lockspace, vml_lockspace_get_name (door->lockspace)) == 0;
}

/* Where the marker is; NOT_FOUND if it was never made (it is made at the
 * lease's first hand-off, by lease_sanlock_marker_create_async). */
static gboolean
marker_resource (VmlLeaseSanlock *door, char **name, VmlSanlockResource *res, GError **error)
{
  VmlSanlockLockspace spec;
  guint64 offset;

  *name = marker_name (door);
  vml_lockspace_get_spec (door->lockspace, &spec);
  if (!vml_sanlock_index_lookup (&spec, *name, &offset, error))
    return FALSE;
  res->lockspace = spec.name;
  res->name = *name;
  res->path = spec.path;
  res->offset = offset;
  res->sector_size = 0;
  return TRUE;
}

static void
on_marker_created (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GArray) offsets = NULL;
  GError *error = NULL;

  offsets = vml_lockspace_index_find_or_add_finish (VML_LOCKSPACE (source), result, &error);
  if (offsets != NULL)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
lease_sanlock_marker_create_async (VmlLeaseSanlock *door, gpointer source_object,
                                   const char *holder_path, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  GTask *task = g_task_new (source_object, NULL, callback, user_data);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (names, marker_name (door));
  vml_lockspace_index_find_or_add_async (door->lockspace, holder_path, names,
                                         on_marker_created, task);
}

gboolean
lease_sanlock_marker_create_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
lease_sanlock_marker_take (VmlLeaseSanlock *door, VmlHolder *holder, GError **error)
{
  g_autofree char *name = NULL;
  VmlSanlockResource res;
  gboolean ok;

  if (!marker_resource (door, &name, &res, error))
    return FALSE;
  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (holder), FALSE, 0, NULL, error);
  g_mutex_unlock (&door->cmd_lock);
  if (!ok)
    g_prefix_error (error, "cannot mark the lease as in a hand-off: ");
  return ok;
}

/* Best effort: a holder that died has let go of it already. */
void
lease_sanlock_marker_drop (VmlLeaseSanlock *door, VmlHolder *holder)
{
  g_autofree char *name = NULL;
  VmlSanlockResource res;

  if (holder == NULL || !marker_resource (door, &name, &res, NULL))
    return;
  g_mutex_lock (&door->cmd_lock);
  vml_sanlock_release (&res, vml_holder_get_pid (holder), NULL);
  g_mutex_unlock (&door->cmd_lock);
}

gboolean
lease_sanlock_note_begin (VmlLeaseSanlock *door, const char *begin_token, GError **error)
{
  g_autofree char *name = NULL;
  VmlSanlockResource res;

  if (!marker_resource (door, &name, &res, error) ||
      !vml_transfer_note_write (res.path, res.offset, begin_token, error))
    {
      g_prefix_error (error, "cannot vouch for the hand-off on storage: ");
      return FALSE;
    }
  return TRUE;
}

gboolean
lease_sanlock_note_vouches (VmlLeaseSanlock *door, const char *begin_token, guint64 source,
                            GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr(GError) local_error = NULL;
  VmlSanlockResource res;
  gboolean matches = FALSE;

  if (!marker_resource (door, &name, &res, &local_error))
    {
      if (!g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  else if (!vml_transfer_note_matches (res.path, res.offset, begin_token, &matches, error))
    return FALSE;
  if (matches)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN,
               "the token does not fit: it is not the begin token host %" G_GUINT64_FORMAT
               " issued last for the lease of %s (the source's note on storage names "
               "another); pass the token begin returned there, whole and unchanged",
               source, door->uuid);
  return FALSE;
}

gboolean
lease_sanlock_marked_elsewhere (VmlLeaseSanlock *door, GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr(VmlLeaseOwners) owners = NULL;
  g_autoptr(GError) local_error = NULL;
  VmlSanlockResource res;

  if (!marker_resource (door, &name, &res, &local_error))
    return FALSE;   /* never in a hand-off */
  owners = lease_sanlock_read_owners_of (&res, NULL);
  if (owners == NULL || !owners->owners_live || owners->owner == 0 ||
      owners->owner == vml_lockspace_get_host_id (door->lockspace))
    return FALSE;
  g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
               "the lease of %s is being handed from host %" G_GUINT64_FORMAT " to another "
               "host right now; shared acquisitions wait until that ends", door->uuid,
               owners->owner);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Delete                                                                 */

gboolean
lease_sanlock_guard_take (VmlLeaseSanlock *door, VmlHolder *guard, GError **error)
{
  VmlSanlockResource res;

  resource_of (door, &res);
  return vml_sanlock_acquire (&res, vml_holder_get_pid (guard), FALSE, 0, NULL, error);
}

void
lease_sanlock_guard_release (VmlLeaseSanlock *door, VmlHolder *guard)
{
  VmlSanlockResource res;

  resource_of (door, &res);
  vml_sanlock_release (&res, vml_holder_get_pid (guard), NULL);
}

gboolean
lease_sanlock_clear_area (VmlLeaseSanlock *door, GError **error)
{
  VmlSanlockResource res;

  resource_of (door, &res);
  res.sector_size = vml_lockspace_sector_size_at (door->lockspace, door->path);
  return vml_sanlock_resource_clear (&res, error);
}

gboolean
lease_sanlock_index_delete (VmlLeaseSanlock *door, GError **error)
{
  VmlSanlockLockspace spec;

  vml_lockspace_get_spec (door->lockspace, &spec);
  return vml_sanlock_index_delete (&spec, door->uuid, door->offset, error);
}
