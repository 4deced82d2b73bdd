/* vml-lease-disks.c: a VM lease's disk leases (docs/decisions.md "Disk
 * leases"). Each disk is a sanlock resource of its own in the lockspace's
 * index, kept by a disk holder: a vmlease-holder process claimed for the
 * same VM and fence as the VM lease's holder, keeping up to
 * VML_DISKS_PER_HOLDER disks (sanlock's limit per client). The VM lease,
 * its disks and their holders are one unit: what is here takes and lets
 * go of disks; vml-lease-loss.c makes the loss of any one the loss of all.
 * Part of VmlLease (vml-lease-core.c). */
#include "config.h"

#include <string.h>

#include "vml-error.h"
#include "vml-lease-private.h"

GPtrArray *
lease_disks_copy (GPtrArray *disks)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);

  for (guint i = 0; disks != NULL && i < disks->len; i++)
    {
      LeaseDisk *disk = disks->pdata[i];
      LeaseDisk *c = lease_disk_new (disk->key, disk->name, disk->mode, disk->offset);

      g_set_object (&c->holder, disk->holder);
      c->common = disk->common;
      g_ptr_array_add (copy, c);
    }
  return copy;
}

LeaseDisk *
lease_disks_find (GPtrArray *disks, const char *key)
{
  for (guint i = 0; disks != NULL && i < disks->len; i++)
    if (g_str_equal (((LeaseDisk *) disks->pdata[i])->key, key))
      return disks->pdata[i];
  return NULL;
}

static int
compare_disks (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(LeaseDisk * const *) a)->key, (*(LeaseDisk * const *) b)->key);
}

void
lease_disks_publish (VmlLease *self)
{
  GVariantBuilder builder;

  g_ptr_array_sort (self->disks, compare_disks);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i < self->disks->len; i++)
    {
      LeaseDisk *disk = self->disks->pdata[i];

      if (disk->holder != NULL)
        g_variant_builder_add (&builder, "(ss)", disk->key, vml_mode_to_string (disk->mode));
    }
  vml_dbus_lease_set_disks (self->iface, g_variant_builder_end (&builder));
}

/* ---------------------------------------------------------------------- */
/* Where the disks are                                                    */

typedef struct {
  GPtrArray *specs;   /* VmlDiskSpec, referenced */
} Locate;

static void
on_located (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GPtrArray *specs = g_task_get_task_data (task);
  g_autoptr(GArray) offsets = NULL;
  GPtrArray *disks;
  GError *error = NULL;

  offsets = vml_lockspace_index_find_or_add_finish (VML_LOCKSPACE (source), result, &error);
  if (offsets == NULL)
    {
      g_prefix_error (&error, "cannot allocate the lease of a disk in lockspace '%s': ",
                      vml_lockspace_get_name (VML_LOCKSPACE (source)));
      g_task_return_error (task, error);
      return;
    }
  disks = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);
  for (guint i = 0; i < specs->len; i++)
    {
      VmlDiskSpec *spec = specs->pdata[i];

      g_ptr_array_add (disks, lease_disk_new (spec->key, spec->name, spec->mode,
                                              g_array_index (offsets, guint64, i)));
    }
  g_task_return_pointer (task, disks, (GDestroyNotify) g_ptr_array_unref);
}

void
lease_disks_locate (VmlLease *self, GPtrArray *specs, GAsyncReadyCallback done,
                    gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, done, user_data);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  g_task_set_task_data (task, g_ptr_array_ref (specs), (GDestroyNotify) g_ptr_array_unref);
  for (guint i = 0; i < specs->len; i++)
    g_ptr_array_add (names, ((VmlDiskSpec *) specs->pdata[i])->name);
  vml_lockspace_index_find_or_add_async (self->lockspace,
                                         vml_holder_pool_get_holder_path (self->holders), names,
                                         on_located, task);
}

GPtrArray *
lease_disks_locate_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------------- */
/* Taking and letting go (worker threads)                                 */

static guint
disks_kept_by (GPtrArray *disks, VmlHolder *holder)
{
  guint n = 0;

  for (guint i = 0; disks != NULL && i < disks->len; i++)
    if (((LeaseDisk *) disks->pdata[i])->holder == holder)
      n++;
  return n;
}

/* A holder with room for one more disk, counting @held and the first @n of
 * @wanted; NULL when all are full. */
static VmlHolder *
holder_with_room (GPtrArray *holders, GPtrArray *held, GPtrArray *wanted)
{
  for (guint h = 0; h < holders->len; h++)
    if (disks_kept_by (held, holders->pdata[h]) + disks_kept_by (wanted, holders->pdata[h]) <
        VML_DISKS_PER_HOLDER)
      return holders->pdata[h];
  return NULL;
}

static VmlHolder *
new_disk_holder (VmlLease *self, VmlFence fence, guint fence_pid, const char *fence_qmp,
                 GError **error)
{
  g_autoptr(VmlHolder) holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                                  VML_HOLDER_FOR_LEASE, error);

  if (holder == NULL)
    {
      g_prefix_error (error, "cannot start a holder for the disks of %s: ", self->uuid);
      return NULL;
    }
  if (!vml_holder_claim (holder, self->uuid, fence, fence_pid, fence_qmp, error))
    {
      vml_holder_stop (holder, HOLDER_STOP_MS);
      return NULL;
    }
  return g_steal_pointer (&holder);
}

gboolean
lease_disks_take (VmlLease *self, GPtrArray *held, GPtrArray *wanted, GPtrArray *holders,
                  VmlFence fence, guint fence_pid, const char *fence_qmp, GError **error)
{
  guint first_new = holders->len;
  guint taken = 0;
  gboolean ok = TRUE;

  for (; taken < wanted->len && ok; taken++)
    {
      LeaseDisk *disk = wanted->pdata[taken];
      VmlHolder *holder = holder_with_room (holders, held, wanted);

      if (holder == NULL)
        {
          holder = new_disk_holder (self, fence, fence_pid, fence_qmp, error);
          if (holder == NULL)
            {
              ok = FALSE;
              break;
            }
          g_ptr_array_add (holders, holder);
        }
      g_set_object (&disk->holder, holder);
      ok = lease_sanlock_disk_acquire (self->sanlock, holder, disk->key, disk->name,
                                       disk->offset, disk->mode == VML_MODE_SHARED || disk->common,
                                       disk->mode == VML_MODE_SHARED, error);
      if (!ok)
        g_clear_object (&disk->holder);
    }
  if (ok)
    return TRUE;
  /* All or nothing: what this call took goes again. */
  for (guint i = 0; i < wanted->len; i++)
    {
      LeaseDisk *disk = wanted->pdata[i];

      if (disk->holder != NULL)
        lease_sanlock_disk_release (self->sanlock, disk->holder, disk->name, disk->offset, NULL);
      g_clear_object (&disk->holder);
    }
  while (holders->len > first_new)
    {
      g_autoptr(VmlHolder) holder = g_object_ref (holders->pdata[holders->len - 1]);

      g_ptr_array_remove_index (holders, holders->len - 1);
      vml_holder_stop (holder, HOLDER_STOP_MS);
    }
  return FALSE;
}

gboolean
lease_disks_let_go (VmlLease *self, GPtrArray *disks, GError **error)
{
  for (guint i = 0; i < disks->len; i++)
    {
      LeaseDisk *disk = disks->pdata[i];
      GError *local_error = NULL;

      if (disk->holder == NULL || disk->done ||
          lease_sanlock_disk_release (self->sanlock, disk->holder, disk->name, disk->offset,
                                      &local_error))
        continue;
      /* A holder that died took the disk with it. */
      if (!vml_holder_is_alive (disk->holder) ||
          g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_HELD))
        {
          g_clear_error (&local_error);
          continue;
        }
      g_propagate_prefixed_error (error, local_error, "cannot release disk \"%s\": ", disk->key);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Holders (main loop)                                                    */

void
lease_disks_end_idle_holders (VmlLease *self)
{
  for (guint h = self->disk_holders->len; h > 0; h--)
    {
      VmlHolder *holder = self->disk_holders->pdata[h - 1];

      if (disks_kept_by (self->disks, holder) > 0)
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
