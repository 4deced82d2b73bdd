/* vml-lease-disks-restore.c: a VM lease's disk leases after a restart of
 * vmleased: what sanlock says each disk holder still holds, the disks of a
 * take that did not finish, and those found gone (docs/decisions.md "Disk
 * leases", "Write-ahead"); and the holders' ends. The taking and letting
 * go are vml-lease-disks.c's. Part of VmlLease (vml-lease-core.c). */
#include "config.h"

#include "vml-lease-private.h"

/* ---------------------------------------------------------------------- */
/* After a restart                                                        */

GPtrArray *
lease_disks_still_held (VmlLease *self, GPtrArray *disks, gboolean stop_empty)
{
  g_autoptr(GHashTable) by_pid = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                                         (GDestroyNotify) g_hash_table_unref);
  GPtrArray *held = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);

  for (guint i = 0; i < disks->len; i++)
    {
      LeaseDisk *disk = disks->pdata[i];
      gpointer pid;
      GHashTable *names;

      if (disk->holder == NULL)
        continue;
      pid = GINT_TO_POINTER (vml_holder_get_pid (disk->holder));
      names = g_hash_table_lookup (by_pid, pid);
      if (names == NULL && !g_hash_table_contains (by_pid, pid))
        {
          g_autoptr(GError) error = NULL;

          names = lease_sanlock_holder_names (self->sanlock, GPOINTER_TO_INT (pid), &error);
          if (names == NULL)
            {
              vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .holder_pid = GPOINTER_TO_INT (pid)),
                       "Cannot ask sanlock what disk holder %d holds: %s",
                       GPOINTER_TO_INT (pid), error->message);
              g_ptr_array_unref (held);
              return NULL;
            }
          g_hash_table_insert (by_pid, pid, names);
          if (stop_empty && g_hash_table_size (names) == 0)
            {
              /* Recorded before it asked sanlock, which never gave it
               * anything: of no use. */
              vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .holder_pid = GPOINTER_TO_INT (pid)),
                       "Disk holder %d holds nothing (vmleased stopped before its disks were "
                       "taken); stopped", GPOINTER_TO_INT (pid));
              vml_holder_stop (disk->holder, HOLDER_STOP_MS);
            }
        }
      if (g_hash_table_contains (names, disk->name))
        {
          g_autoptr(GPtrArray) one = g_ptr_array_new ();

          g_ptr_array_add (one, disk);
          g_ptr_array_extend_and_steal (held, lease_disks_copy (one));
        }
    }
  return held;
}

void
lease_disks_let_go_all (VmlLease *self, GPtrArray *disks)
{
  g_autoptr(GPtrArray) holders = g_ptr_array_new ();

  lease_disks_let_go (self, disks, NULL);
  for (guint i = 0; i < disks->len; i++)
    {
      VmlHolder *holder = ((LeaseDisk *) disks->pdata[i])->holder;

      if (holder != NULL && !g_ptr_array_find (holders, holder, NULL))
        g_ptr_array_add (holders, holder);
    }
  for (guint h = 0; h < holders->len; h++)
    vml_holder_stop (holders->pdata[h], HOLDER_STOP_MS);
}

static VmlHolder *
disk_holder_by_pid (VmlLease *self, pid_t pid)
{
  for (guint h = 0; h < self->disk_holders->len; h++)
    if (vml_holder_get_pid (self->disk_holders->pdata[h]) == pid)
      return self->disk_holders->pdata[h];
  return NULL;
}

void
lease_disks_restored (VmlLease *self, GPtrArray *held_now, GPtrArray *pending_held,
                      gboolean expect_gone)
{
  g_autoptr(GString) names = g_string_new (NULL);
  g_autoptr(GString) keys = g_string_new (NULL);

  for (guint i = 0; pending_held != NULL && i < pending_held->len; i++)
    {
      LeaseDisk *disk = pending_held->pdata[i];
      VmlHolder *holder = disk_holder_by_pid (self, vml_holder_get_pid (disk->holder));
      LeaseDisk *mine = lease_disks_find (self->disks, disk->key);

      if (holder == NULL)
        {
          holder = g_object_ref (disk->holder);
          g_ptr_array_add (self->disk_holders, holder);
        }
      if (mine == NULL)
        {
          mine = lease_disk_new (disk->key, disk->name, disk->mode, disk->offset);
          mine->common = disk->common;
          g_ptr_array_add (self->disks, mine);
        }
      g_set_object (&mine->holder, holder);
      vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .holder_pid = vml_holder_get_pid (holder)),
               "Disk \"%s\" was being taken when vmleased stopped; sanlock says holder %d "
               "holds it: adopted", disk->key, (int) vml_holder_get_pid (holder));
    }
  if (self->pending_disks != NULL)
    g_ptr_array_set_size (self->pending_disks, 0);
  if (held_now == NULL || expect_gone)
    return;
  for (guint i = 0; i < self->disks->len; i++)
    {
      LeaseDisk *disk = self->disks->pdata[i];

      if (disk->holder == NULL || lease_disks_find (held_now, disk->key) != NULL ||
          (pending_held != NULL && lease_disks_find (pending_held, disk->key) != NULL))
        continue;
      g_string_append_printf (names, "%s%s", names->len ? " " : "", disk->name);
      g_string_append_printf (keys, "%s%s", keys->len ? " " : "", disk->key);
    }
  if (names->len == 0)
    return;
  g_free (self->lost_resource);
  self->lost_resource = g_strdup (names->str);
  g_free (self->lost_disk);
  self->lost_disk = g_strdup (keys->str);
  g_free (self->missing_disk);
  self->missing_disk = g_strdup_printf ("sanlock no longer holds disk(s) %s for their holder",
                                        keys->str);
  vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self), "%s", self->missing_disk);
}

void
lease_disks_forget (VmlLease *self)
{
  for (guint h = 0; h < self->disk_holders->len; h++)
    g_signal_handlers_disconnect_by_data (self->disk_holders->pdata[h], self);
  g_ptr_array_set_size (self->disk_holders, 0);
  g_ptr_array_set_size (self->disks, 0);
  lease_disks_publish (self);
}

/* ---------------------------------------------------------------------- */
/* Holders (main loop)                                                    */

void
lease_disks_end_idle_holders (VmlLease *self)
{
  for (guint h = self->disk_holders->len; h > 0; h--)
    {
      VmlHolder *holder = self->disk_holders->pdata[h - 1];

      if (lease_disks_kept_by (self->disks, holder) > 0)
        continue;
      g_signal_handlers_disconnect_by_data (holder, self);
      /* It holds nothing now: told to go over its stdin (or SIGTERM). */
      vml_holder_terminate (holder);
      g_ptr_array_remove_index (self->disk_holders, h - 1);
    }
}

void
lease_disks_kill_all (VmlLease *self)
{
  for (guint h = 0; h < self->disk_holders->len; h++)
    {
      VmlHolder *holder = self->disk_holders->pdata[h];

      g_signal_handlers_disconnect_by_data (holder, self);
      /* It may still hold disks: SIGTERM is its revocation (it fences the
       * VM, again, harmlessly, and exits; sanlock then frees its disks).
       * Its stdin closing would not do: a claimed holder keeps holding. */
      vml_holder_revoke (holder);
    }
  g_ptr_array_set_size (self->disk_holders, 0);
  g_ptr_array_set_size (self->disks, 0);
  lease_disks_publish (self);
}
