/* vml-lease-handoff.c: what a hand-off knows besides its steps: what
 * storage says (owners, host generations, the marker lease that shows other
 * hosts a hand-off is under way) and its part of the lease's record and
 * Inquire. The steps themselves are in vml-lease-transfer.c. */
#include "config.h"

#include "vml-error.h"
#include "vml-handoff-note.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

/* ---------------------------------------------------------------------- */
/* Thread helpers: what storage says                                      */

gboolean
lease_host_generation (VmlLease *self, guint64 host_id, guint64 *generation, gboolean *live,
                       GError **error)
{
  g_autoptr(GArray) hosts = vml_sanlock_get_hosts (vml_lockspace_get_name (self->lockspace), error);

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
lease_owners_hold_shared (VmlSanlockOwners *owners, guint64 host_id)
{
  for (guint i = 0; i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) == host_id)
      return TRUE;
  return FALSE;
}

VmlSanlockOwners *
lease_read_owners (VmlLease *self, GError **error)
{
  VmlSanlockResource res;

  lease_resource_of (self, &res);
  return vml_sanlock_read_owners (&res, error);
}

gboolean
lease_someone_else_shares (VmlLease *self, VmlSanlockOwners *owners)
{
  if (!owners->owners_live)
    return FALSE;
  for (guint i = 0; i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) != lease_my_host_id (self))
      return TRUE;
  return FALSE;
}

static gboolean
someone_holds (VmlSanlockOwners *owners)
{
  return owners->owners_live && (owners->owner != 0 || owners->shared_owners->len > 0);
}

gboolean
lease_is_free_by (VmlLease *self, gint64 deadline, guint wait_s, guint64 peer, gboolean *again,
                  GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = lease_read_owners (self, error);
  GArray *shared;
  guint64 who;

  if (owners == NULL)
    return FALSE;
  if (!someone_holds (owners))
    return TRUE;
  if (g_get_monotonic_time () < deadline)
    {
      *again = TRUE;
      return FALSE;
    }
  shared = owners->shared_owners;
  who = owners->owner ? owners->owner : shared->len ? g_array_index (shared, guint64, 0) : peer;
  g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
               "host %" G_GUINT64_FORMAT " still holds the lease%s after waiting %u s; "
               "sanlock frees it once that host cancels, or is seen dead (about "
               "8 × io_timeout + 60 s after it stopped); pass a longer wait",
               who, owners->owner ? " exclusively" : " shared", wait_s);
  return FALSE;
}

/* ---------------------------------------------------------------------- */
/* The hand-off marker: a lease of its own ("x-<uuid>", allocated in the
 * lockspace's index the first time) that the source holds from begin to
 * the end of its part. Other hosts cannot see a hand-off otherwise, and a
 * shared Acquire elsewhere must be refused during one (DESIGN.md §3). It
 * is a sanlock lease, so a source that dies lets go of it by itself.     */

static char *
marker_name (VmlLease *self)
{
  return g_strconcat ("x-", self->uuid, NULL);
}

typedef struct {
  const char *name;
  guint64     offset;
} MarkerLookup;

static gboolean
marker_lookup_or_create_locked (VmlLockspace *ls, gpointer user_data, GError **error)
{
  MarkerLookup *m = user_data;
  VmlSanlockLockspace spec;
  g_autoptr(GError) local_error = NULL;

  vml_lockspace_get_spec (ls, &spec);
  if (vml_sanlock_index_lookup (&spec, m->name, &m->offset, &local_error))
    return TRUE;
  if (!g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return vml_sanlock_index_create (&spec, m->name, &m->offset, error);
}

/* Where the marker is; NOT_FOUND if it was never made (it is made at the
 * lease's first hand-off, by lease_marker_create_async). */
static gboolean
marker_resource (VmlLease *self, char **name, VmlSanlockResource *res, GError **error)
{
  VmlSanlockLockspace spec;
  guint64 offset;

  *name = marker_name (self);
  vml_lockspace_get_spec (self->lockspace, &spec);
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
  GError *error = NULL;

  if (vml_lockspace_run_locked_index_finish (VML_LOCKSPACE (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
marker_lookup_free (MarkerLookup *m)
{
  g_free ((char *) m->name);
  g_free (m);
}

void
lease_marker_create_async (VmlLease *self, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  MarkerLookup *m = g_new0 (MarkerLookup, 1);

  m->name = marker_name (self);
  g_task_set_task_data (task, m, (GDestroyNotify) marker_lookup_free);
  vml_lockspace_run_locked_index_async (self->lockspace,
                                        vml_holder_pool_get_holder_path (self->holders),
                                        marker_lookup_or_create_locked, m, on_marker_created,
                                        task);
}

gboolean
lease_marker_create_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
lease_marker_take (VmlLease *self, VmlHolder *holder, GError **error)
{
  g_autofree char *name = NULL;
  VmlSanlockResource res;
  gboolean ok;

  if (!marker_resource (self, &name, &res, error))
    return FALSE;
  g_mutex_lock (&self->cmd_lock);
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (holder), FALSE, 0, NULL, error);
  g_mutex_unlock (&self->cmd_lock);
  if (!ok)
    g_prefix_error (error, "cannot mark the lease as in a hand-off: ");
  return ok;
}

/* Best effort: a holder that died has let go of it already. */
void
lease_marker_drop (VmlLease *self, VmlHolder *holder)
{
  g_autofree char *name = NULL;
  VmlSanlockResource res;

  if (holder == NULL || !marker_resource (self, &name, &res, NULL))
    return;
  g_mutex_lock (&self->cmd_lock);
  vml_sanlock_release (&res, vml_holder_get_pid (holder), NULL);
  g_mutex_unlock (&self->cmd_lock);
}

gboolean
lease_marker_note_begin (VmlLease *self, const char *begin_token, GError **error)
{
  g_autofree char *name = NULL;
  VmlSanlockResource res;

  if (!marker_resource (self, &name, &res, error) ||
      !vml_handoff_note_write (res.path, res.offset, begin_token, error))
    {
      g_prefix_error (error, "cannot vouch for the hand-off on storage: ");
      return FALSE;
    }
  return TRUE;
}

gboolean
lease_marker_note_vouches (VmlLease *self, const char *begin_token, guint64 source,
                           GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr(GError) local_error = NULL;
  VmlSanlockResource res;
  gboolean matches = FALSE;

  if (!marker_resource (self, &name, &res, &local_error))
    {
      if (!g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  else if (!vml_handoff_note_matches (res.path, res.offset, begin_token, &matches, error))
    return FALSE;
  if (matches)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN,
               "the token does not fit: it is not the begin token host %" G_GUINT64_FORMAT
               " issued last for the lease of %s (the source's note on storage names "
               "another); pass the token begin returned there, whole and unchanged",
               source, self->uuid);
  return FALSE;
}

gboolean
lease_transfer_marked_elsewhere (VmlLease *self, GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr(VmlSanlockOwners) owners = NULL;
  g_autoptr(GError) local_error = NULL;
  VmlSanlockResource res;

  if (!marker_resource (self, &name, &res, &local_error))
    return FALSE;   /* never in a hand-off */
  owners = vml_sanlock_read_owners (&res, NULL);
  if (owners == NULL || !owners->owners_live || owners->owner == 0 ||
      owners->owner == lease_my_host_id (self))
    return FALSE;
  g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
               "the lease of %s is being handed from host %" G_GUINT64_FORMAT " to another "
               "host right now; shared acquisitions wait until that ends", self->uuid,
               owners->owner);
  return TRUE;
}

void
lease_transfer_set (VmlLease *self, VmlTransferRole role, const char *id, const char *step,
                    guint64 peer)
{
  char *new_id = g_strdup (id), *new_step = g_strdup (step);   /* may be our own */

  self->transfer_role = role;
  g_free (self->transfer_id);
  self->transfer_id = new_id;
  g_free (self->transfer_step);
  self->transfer_step = new_step;
  self->transfer_peer = peer;
  vml_dbus_lease_set_transfer_step (self->iface, step ? step : "");
}

const char *
lease_transfer_role_name (VmlTransferRole role)
{
  return role == TRANSFER_SOURCE ? "source" : role == TRANSFER_DESTINATION ? "destination" : "";
}

/* ---------------------------------------------------------------------- */
/* Key, Inquire, record                                                   */

GBytes *
lease_transfer_key (VmlLease *self, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  GBytes *key = vml_token_load_key (vml_store_get_dir (self->store), &local_error);

  if (key == NULL)
    {
      g_warning ("No key to sign migration tokens with: %s", local_error->message);
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "%s", local_error->message);
    }
  return key;
}

/* Who the source waits for: the peer, or before perform (when it is not
 * known yet) whoever else holds the lease shared on storage. */
static char *
waiting_for (VmlLease *self, VmlSanlockOwners *owners)
{
  guint64 who = self->transfer_peer;

  for (guint i = 0; who == 0 && owners != NULL && i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) != lease_my_host_id (self))
      who = g_array_index (owners->shared_owners, guint64, i);
  if (who == 0)
    return g_strdup_printf ("for the destination %s", self->transfer_waiting);
  return g_strdup_printf ("for host %" G_GUINT64_FORMAT " %s", who, self->transfer_waiting);
}

GVariant *
lease_transfer_info (VmlLease *self, VmlSanlockOwners *owners)
{
  GVariantDict dict;

  if (self->transfer_role == TRANSFER_NONE)
    return NULL;
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "role", "s", lease_transfer_role_name (self->transfer_role));
  g_variant_dict_insert (&dict, "step", "s", self->transfer_step);
  g_variant_dict_insert (&dict, "id", "s", self->transfer_id);
  g_variant_dict_insert (&dict, "peer", "t", self->transfer_peer);
  g_variant_dict_insert (&dict, "postcopy", "b", self->transfer_postcopy);
  if (self->transfer_waiting != NULL)
    {
      g_autofree char *waiting = waiting_for (self, owners);

      g_variant_dict_insert (&dict, "waiting", "s", waiting);
    }
  return g_variant_dict_end (&dict);
}

#define GROUP "transfer"

void
lease_transfer_save (VmlLease *self, GKeyFile *record)
{
  if (self->committed_transfer != NULL)
    g_key_file_set_string (record, GROUP, "committed", self->committed_transfer);
  if (self->transfer_role == TRANSFER_NONE)
    return;
  g_key_file_set_string (record, GROUP, "role", lease_transfer_role_name (self->transfer_role));
  g_key_file_set_string (record, GROUP, "id", self->transfer_id);
  g_key_file_set_string (record, GROUP, "step", self->transfer_step);
  g_key_file_set_uint64 (record, GROUP, "peer", self->transfer_peer);
  g_key_file_set_boolean (record, GROUP, "postcopy", self->transfer_postcopy);
  g_key_file_set_uint64 (record, GROUP, "lver", self->transfer_lver);
}

void
lease_transfer_load (VmlLease *self, GKeyFile *record)
{
  g_autofree char *role = g_key_file_get_string (record, GROUP, "role", NULL);
  g_autofree char *id = g_key_file_get_string (record, GROUP, "id", NULL);
  g_autofree char *step = g_key_file_get_string (record, GROUP, "step", NULL);
  VmlTransferRole r = g_strcmp0 (role, "source") == 0 ? TRANSFER_SOURCE :
                      g_strcmp0 (role, "destination") == 0 ? TRANSFER_DESTINATION : TRANSFER_NONE;

  self->committed_transfer = g_key_file_get_string (record, GROUP, "committed", NULL);
  if (r == TRANSFER_NONE || id == NULL || step == NULL)
    return;
  lease_transfer_set (self, r, id, step, g_key_file_get_uint64 (record, GROUP, "peer", NULL));
  self->transfer_postcopy = g_key_file_get_boolean (record, GROUP, "postcopy", NULL);
  self->transfer_lver = g_key_file_get_uint64 (record, GROUP, "lver", NULL);
}
