/* vml-lease-record.c: VmlLease's state record, written at every change so
 * that a restart of vmleased finds its leases again (vml-lease-restore.c
 * reads it back). */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"

/* ---- the lease's disk lists, as the record keeps them ------------------ */

LeaseDisk *
lease_disks_find (GPtrArray *disks, const char *key)
{
  for (guint i = 0; disks != NULL && i < disks->len; i++)
    if (g_str_equal (((LeaseDisk *) disks->pdata[i])->key, key))
      return disks->pdata[i];
  return NULL;
}

GPtrArray *
lease_disks_pending (VmlLease *self)
{
  if (self->pending_disks == NULL)
    self->pending_disks = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);
  return self->pending_disks;
}

void
lease_disks_prune_pending (VmlLease *self)
{
  GPtrArray *pending = lease_disks_pending (self);

  /* Taken (now a disk of the lease, in the record's disks), or its holder
   * gone (it holds nothing). */
  for (guint i = pending->len; i > 0; i--)
    {
      LeaseDisk *disk = pending->pdata[i - 1];
      LeaseDisk *held = lease_disks_find (self->disks, disk->key);

      if ((held != NULL && held->holder != NULL) || disk->holder == NULL ||
          !vml_holder_is_alive (disk->holder))
        g_ptr_array_remove_index (pending, i - 1);
    }
}

#define GROUP LEASE_RECORD_GROUP

/* The record: one line per disk, "<key> <mode> <name> <offset> <holder
 * pid> <holder start time> <common>" (keys have no blanks; pid 0: not held
 * here, the source's after perform; common: 1 in a hand-off when it moves). */

/* "pending_disks" has the same lines for the disks a take is asking sanlock
 * for right now (written before it asks): restore adopts those sanlock says
 * their holder holds, and stops a holder that holds nothing. */

static char **
disks_to_record (GPtrArray *disks)
{
  g_autoptr(GStrvBuilder) lines = g_strv_builder_new ();

  for (guint i = 0; disks != NULL && i < disks->len; i++)
    {
      LeaseDisk *disk = disks->pdata[i];

      g_autofree char *line =
                           g_strdup_printf ("%s %s %s %" G_GUINT64_FORMAT " %d %" G_GUINT64_FORMAT " %d",
                                            disk->key, vml_mode_to_string (disk->mode),
                                            disk->name, disk->offset,
                                            disk->holder ? (int) vml_holder_get_pid (disk->holder) : 0,
                                            disk->holder ? vml_holder_get_start_time (disk->holder) : 0,
                           disk->common);

      g_strv_builder_add (lines, line);
    }
  return g_strv_builder_end (lines);
}

void
lease_save_or_warn (VmlLease *self)
{
  g_autoptr(GError) error = NULL;

  if (!vml_lease_save (self, &error))
    vml_log_lease (G_LOG_LEVEL_WARNING, self->uuid, vml_lockspace_get_name (self->lockspace),
                   NULL, "%s", error->message);
}

gboolean
vml_lease_save (VmlLease *self, GError **error)
{
  g_autoptr(GKeyFile) record = g_key_file_new ();
  VmlHolder *holder = self->holder ? self->holder : self->acquiring_holder;

  g_key_file_set_string (record, GROUP, "uuid", self->uuid);
  g_key_file_set_string (record, GROUP, "name", self->name);
  g_key_file_set_string (record, GROUP, "lockspace", vml_lockspace_get_name (self->lockspace));
  g_key_file_set_string (record, GROUP, "path", self->path);
  g_key_file_set_uint64 (record, GROUP, "offset", self->offset);
  g_key_file_set_boolean (record, GROUP, "indexed", self->indexed);
  g_key_file_set_string (record, GROUP, "state", lease_state_names[self->state]);
  g_key_file_set_string (record, GROUP, "mode", vml_mode_to_string (self->mode));
  g_key_file_set_string (record, GROUP, "fence", vml_fence_to_string (self->fence));
  g_key_file_set_uint64 (record, GROUP, "fence_pid", self->fence_pid);
  g_key_file_set_uint64 (record, GROUP, "fence_start", self->fence_start);
  if (self->fence_qmp != NULL)
    g_key_file_set_string (record, GROUP, "fence_qmp", self->fence_qmp);
  g_key_file_set_uint64 (record, GROUP, "owner_uid", self->owner_uid);
  g_key_file_set_uint64 (record, GROUP, "lver", self->lver);
  g_key_file_set_uint64 (record, GROUP, "holder_pid",
                         holder ? (guint64) vml_holder_get_pid (holder) : 0);
  g_key_file_set_uint64 (record, GROUP, "holder_start",
                         holder ? vml_holder_get_start_time (holder) : 0);
  {
    g_auto(GStrv) disks = disks_to_record (self->disks);
    g_auto(GStrv) pending = NULL;

    g_key_file_set_string_list (record, GROUP, "disks", (const char *const *) disks,
                                g_strv_length (disks));
    lease_disks_prune_pending (self);
    pending = disks_to_record (self->pending_disks);
    if (pending[0] != NULL)
      g_key_file_set_string_list (record, GROUP, "pending_disks", (const char *const *) pending,
                                  g_strv_length (pending));
  }
  vml_transfer_save (&self->transfer, record);
  return vml_store_save (self->store, VML_RECORD_LEASE, self->uuid, record, error);
}

gboolean
vml_lease_forget (VmlLease *self, GError **error)
{
  vml_store_drop_notes (self->store, self->uuid);
  return vml_store_remove (self->store, VML_RECORD_LEASE, self->uuid, error);
}

char *
vml_lease_record_lockspace (GKeyFile *record)
{
  return g_key_file_get_string (record, GROUP, "lockspace", NULL);
}

