/* vml-lease-sanlock-disks.c: the disk leases' calls of the lease's sanlock
 * door (vml-lease-sanlock.h): taking, converting, releasing and seizing a
 * disk, who holds it, and where it is in the index. Moved out of
 * vml-lease-sanlock.c. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-sanlock.h"
#include "vml-lease-sanlock-private.h"
#include "vml-mode-block.h"
#include "vml-sanlock.h"
#include "vml-transfer-note.h"

static void
disk_resource (VmlLeaseSanlock *door, const char *name, guint64 offset, VmlSanlockResource *res)
{
  res->lockspace = vml_lockspace_get_name (door->lockspace);
  res->name = name;
  res->path = vml_lockspace_get_path (door->lockspace);
  res->offset = offset;
  res->sector_size = 0;
}

/* Who holds the disk, in words, for a Busy: the VM lease the note names
 * if its host still holds the disk on storage, else the host ids. */
static char *
disk_holders_in_words (VmlLeaseSanlock *door, const VmlSanlockResource *res)
{
  g_autoptr(VmlLeaseOwners) owners = lease_sanlock_read_owners_of (res, NULL);
  g_autofree char *uuid = NULL;
  GString *hosts = g_string_new (NULL);
  guint64 note_host = 0;
  gboolean note_shared = FALSE, noted = FALSE;

  if (owners == NULL)
    return g_string_free (hosts, FALSE);
  if (vml_disk_note_read (res->path, res->offset, &note_host, &uuid, &note_shared, NULL) &&
      uuid != NULL)
    noted = lease_owners_hold_shared (owners, note_host) || owners->owner == note_host;
  if (noted)
    g_string_append_printf (hosts, "the VM lease %s on host %" G_GUINT64_FORMAT " holds it %s",
                            uuid, note_host, note_shared ? "shared" : "exclusively");
  if (noted && !note_shared && owners->owner == 0)
    g_string_append (hosts, " (in a hand-off)");
  else if (owners->owner != 0)
    g_string_append_printf (hosts, "a VM lease on host %" G_GUINT64_FORMAT " holds it "
                            "exclusively", owners->owner);
  if (owners->shared_owners->len > (noted && note_shared ? 1 : 0))
    {
      g_string_append (hosts, hosts->len ? "; held shared on host(s)" : "held shared on host(s)");
      for (guint i = 0; i < owners->shared_owners->len; i++)
        g_string_append_printf (hosts, " %" G_GUINT64_FORMAT,
                                g_array_index (owners->shared_owners, guint64, i));
    }
  return g_string_free (hosts, FALSE);
}

/* A VM lease other than ours holds the disk exclusively (the note says
 * so, and its host still shares it in sanlock): in a hand-off. */
static gboolean
disk_exclusive_elsewhere (VmlLeaseSanlock *door, const VmlSanlockResource *res, GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = lease_sanlock_read_owners_of (res, NULL);
  g_autofree char *uuid = NULL;
  guint64 host = 0;
  gboolean note_shared = TRUE;

  if (owners == NULL ||
      !vml_disk_note_read (res->path, res->offset, &host, &uuid, &note_shared, NULL) ||
      uuid == NULL || note_shared || g_str_equal (uuid, door->uuid) ||
      !lease_owners_hold_shared (owners, host))
    return FALSE;
  g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
               "the VM lease %s on host %" G_GUINT64_FORMAT " has it exclusively (in a "
               "hand-off)", uuid, host);
  return TRUE;
}

gboolean
lease_sanlock_disk_acquire (VmlLeaseSanlock *door, VmlHolder *holder, const char *key,
                            const char *name, guint64 offset, gboolean shared,
                            gboolean mode_shared, GError **error)
{
  VmlSanlockResource res;
  GError *local_error = NULL;
  gboolean ok;

  disk_resource (door, name, offset, &res);
  /* Not under the command lock: a take runs its disk holders' acquires at
   * once, one thread per holder (vml-lease-disks.c), and the operation
   * queue lets no other command reach a disk holder meanwhile. */
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (holder), shared, 0, NULL, &local_error);
  if (ok && mode_shared && disk_exclusive_elsewhere (door, &res, &local_error))
    {
      vml_sanlock_release (&res, vml_holder_get_pid (holder), NULL);
      g_prefix_error (&local_error, "disk \"%s\" is busy: ", key);
      g_propagate_error (error, local_error);
      return FALSE;
    }
  if (ok)
    return TRUE;
  if (g_error_matches (local_error, VML_ERROR, VML_ERROR_BUSY))
    {
      g_autofree char *who = disk_holders_in_words (door, &res);

      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "disk \"%s\" is busy%s%s (%s)", key, *who ? ": " : "", who,
                   local_error->message);
      g_error_free (local_error);
      return FALSE;
    }
  g_propagate_prefixed_error (error, local_error, "disk \"%s\": ", key);
  return FALSE;
}

gboolean
lease_sanlock_disk_convert (VmlLeaseSanlock *door, VmlHolder *holder, const char *name,
                            guint64 offset, gboolean to_shared, GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  disk_resource (door, name, offset, &res);
  g_mutex_lock (&door->cmd_lock);
  ok = vml_sanlock_convert (&res, vml_holder_get_pid (holder), to_shared, error);
  g_mutex_unlock (&door->cmd_lock);
  return ok;
}

gboolean
lease_sanlock_disk_held_shared_by (VmlLeaseSanlock *door, const char *name, guint64 offset,
                                   guint64 host_id, guint64 generation, gboolean *held,
                                   GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = NULL;
  VmlSanlockResource res;
  VmlModeBlock block;

  disk_resource (door, name, offset, &res);
  if (vml_mode_block_read (res.path, offset, name, host_id, &block, NULL))
    {
      *held = block.shared && block.generation == generation;
      return TRUE;
    }
  owners = lease_sanlock_read_owners_of (&res, error);
  if (owners == NULL)
    return FALSE;
  *held = lease_owners_hold_shared (owners, host_id);
  return TRUE;
}

gboolean
lease_sanlock_disk_release (VmlLeaseSanlock *door, VmlHolder *holder, const char *name,
                            guint64 offset, GError **error)
{
  VmlSanlockResource res;

  disk_resource (door, name, offset, &res);
  /* Not under the command lock, as lease_sanlock_disk_acquire. */
  return vml_sanlock_release (&res, vml_holder_get_pid (holder), error);
}

VmlLeaseOwners *
lease_sanlock_disk_owners (VmlLeaseSanlock *door, const char *name, guint64 offset,
                           GError **error)
{
  VmlSanlockResource res;

  disk_resource (door, name, offset, &res);
  return lease_sanlock_read_owners_of (&res, error);
}

GHashTable *
lease_sanlock_holder_names (VmlLeaseSanlock *door, pid_t pid, GError **error)
{
  g_autoptr(GPtrArray) held = vml_sanlock_holder_resources (pid, error);
  GHashTable *names;

  if (held == NULL)
    return NULL;
  names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < held->len; i++)
    {
      VmlSanlockHeld *h = held->pdata[i];

      if (g_strcmp0 (h->lockspace, vml_lockspace_get_name (door->lockspace)) == 0)
        g_hash_table_add (names, g_strdup (h->name));
    }
  return names;
}

gboolean
lease_sanlock_disk_seize (VmlLeaseSanlock *door, const char *name, guint64 offset,
                          gboolean *asked, GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = NULL;
  g_autofree char *uuid = NULL;
  VmlSanlockResource res;
  guint64 note_host = 0;
  gboolean note_shared = FALSE;

  *asked = FALSE;
  disk_resource (door, name, offset, &res);
  owners = lease_sanlock_read_owners_of (&res, error);
  if (owners == NULL)
    return FALSE;
  if (owners->owner == 0 || owners->owner == vml_lockspace_get_host_id (door->lockspace))
    return TRUE;
  /* Only a disk of this same VM lease: another VM's disk is not ours to
   * take, whatever the caller named. */
  if (!vml_disk_note_read (res.path, offset, &note_host, &uuid, &note_shared, NULL) ||
      uuid == NULL || !g_str_equal (uuid, door->uuid) || note_host != owners->owner)
    return TRUE;
  if (!vml_sanlock_request (&res, owners->lver + 1, error))
    return FALSE;
  *asked = TRUE;
  return TRUE;
}

void
lease_sanlock_disk_remember (VmlLeaseSanlock *door, const char *name, guint64 offset)
{
  g_mutex_lock (&door->offsets_lock);
  g_hash_table_insert (door->disk_offsets, g_strdup (name), g_memdup2 (&offset, sizeof offset));
  g_mutex_unlock (&door->offsets_lock);
}

gboolean
lease_sanlock_disk_lookup (VmlLeaseSanlock *door, const char *name, guint64 *offset,
                           GError **error)
{
  VmlSanlockLockspace spec;
  guint64 *known;

  g_mutex_lock (&door->offsets_lock);
  known = g_hash_table_lookup (door->disk_offsets, name);
  if (known != NULL)
    *offset = *known;
  g_mutex_unlock (&door->offsets_lock);
  if (known != NULL)
    return TRUE;
  vml_lockspace_get_spec (door->lockspace, &spec);
  if (!vml_sanlock_index_lookup (&spec, name, offset, error))
    return FALSE;
  lease_sanlock_disk_remember (door, name, *offset);
  return TRUE;
}

void
lease_sanlock_disk_note (VmlLeaseSanlock *door, guint64 offset, gboolean mode_shared)
{
  /* Best effort: without it, a Busy elsewhere names only host ids. */
  vml_disk_note_write (vml_lockspace_get_path (door->lockspace), offset,
                       vml_lockspace_get_host_id (door->lockspace), door->uuid, mode_shared,
                       NULL);
}
