/* vml-lease-transfer-disks.c: the disk leases in a hand-off. Each step
 * moves them with the VM lease, in the same order of events, so that an
 * observer on storage sees every disk held throughout and never
 * exclusively by two hosts:
 *   begin    source: its exclusive disks exclusive → shared
 *   prepare  destination: the disks both sides name (common) taken shared,
 *            its own new ones (prepare's "disks") taken in their mode
 *   perform  source: once the destination is seen holding each common
 *            disk shared, lets those go (post-copy: all of its disks)
 *   finish   destination: its exclusive disks shared → exclusive (sanlock
 *            refuses while the source still shares one); failure: all go
 *   confirm  source: success: the disks only it named go; failure: as cancel
 *   cancel   destination: all go; source: exclusive again, the common ones
 *            taken back first if perform let them go
 * The functions marked "thread" block (sanlock, storage); the others run
 * on the main loop. vml-lease-transfer-steps.c calls them. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

static gboolean
exclusive_disk (LeaseDisk *disk)
{
  return disk->mode == VML_MODE_EXCLUSIVE;
}

/* thread: begin */
gboolean
transfer_disks_to_shared (VmlLease *self, StepData *data, GError **error)
{
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      if (!exclusive_disk (disk) || disk->holder == NULL)
        continue;
      if (!lease_sanlock_disk_convert (self->sanlock, disk->holder, disk->name, disk->offset,
                                       TRUE, error))
        {
          g_prefix_error (error, "disk \"%s\": ", disk->key);
          transfer_disks_to_exclusive (self, data, NULL);
          return FALSE;
        }
    }
  return TRUE;
}

/* thread: back to exclusive (begin undone, cancel, confirm failure).
 * Busy while the destination still shares one: the caller waits. */
gboolean
transfer_disks_to_exclusive (VmlLease *self, StepData *data, GError **error)
{
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      if (!exclusive_disk (disk) || disk->holder == NULL)
        continue;
      if (!lease_sanlock_disk_convert (self->sanlock, disk->holder, disk->name, disk->offset,
                                       FALSE, error))
        {
          g_prefix_error (error, "disk \"%s\": ", disk->key);
          return FALSE;
        }
    }
  return TRUE;
}

/* thread: finish was given a new fence target: every holder of the VM's
 * disks fences it too, as the VM lease's holder does (they are one unit).
 * The disks' holders are told first, so that a holder that cannot be told
 * (adopted after a restart) fails finish before the VM lease's holder
 * changed. */
gboolean
transfer_disks_set_fence (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(GPtrArray) told = g_ptr_array_new ();

  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      if (disk->holder == NULL || disk->holder == data->held_by ||
          g_ptr_array_find (told, disk->holder, NULL))
        continue;
      if (!vml_holder_set_fence (disk->holder, data->fence, data->fence_pid, data->fence_qmp,
                                 error))
        {
          g_prefix_error (error, "disk \"%s\": ", disk->key);
          return FALSE;
        }
      g_ptr_array_add (told, disk->holder);
    }
  return TRUE;
}

/* a(ss) of @disks, for a token; NULL when there are none. */
GVariant *
transfer_disks_variant (GPtrArray *disks)
{
  GVariantBuilder builder;

  if (disks == NULL || disks->len == 0)
    return NULL;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i < disks->len; i++)
    {
      LeaseDisk *disk = disks->pdata[i];

      g_variant_builder_add (&builder, "(ss)", disk->key, vml_mode_to_string (disk->mode));
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gboolean
named_in (GVariant *pairs, const char *key, VmlMode *mode)
{
  GVariantIter iter;
  const char *k, *m;

  if (pairs == NULL)
    return FALSE;
  g_variant_iter_init (&iter, pairs);
  while (g_variant_iter_next (&iter, "(&s&s)", &k, &m))
    if (g_str_equal (k, key))
      {
        if (mode != NULL)
          vml_disk_mode_from_string (m, mode, NULL);
        return TRUE;
      }
  return FALSE;
}

/* Main loop, prepare: the destination's disk set (prepare's "disks", else
 * the source's from T1), checked; each marked common when T1 names it. A
 * disk both name in different modes is refused: its mode cannot change
 * without a gap. */
GPtrArray *
transfer_disks_wanted (VmlLease *self, StepData *data, GError **error)
{
  GVariant *source = data->token->disks;
  g_autoptr(GPtrArray) specs = NULL;

  if (data->disk_option != NULL)
    specs = vml_disks_parse (data->disk_option, 0, "Transfer prepare", error);
  else if (source != NULL)
    specs = vml_disks_parse (source, 0, "Transfer prepare (the source's disks)", error);
  else
    specs = g_ptr_array_new_with_free_func ((GDestroyNotify) vml_disk_spec_free);
  if (specs == NULL)
    return NULL;
  for (guint i = 0; i < specs->len; i++)
    {
      VmlDiskSpec *spec = specs->pdata[i];
      VmlMode mode;

      if (named_in (source, spec->key, &mode) && mode != spec->mode)
        {
          g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                       "Transfer prepare: disk \"%s\" is %s on the source; it moves in the "
                       "same mode", spec->key, vml_mode_to_string (mode));
          return NULL;
        }
    }
  return g_steal_pointer (&specs);
}

void
transfer_disks_mark_common (StepData *data, GVariant *other_side)
{
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      disk->common = named_in (other_side, disk->key, NULL);
    }
}

/* thread: whether the destination (in the generation of its token) holds
 * @disk shared, as perform needs before letting it go. */
static gboolean
destination_shares (VmlLease *self, LeaseDisk *disk, gpointer user_data, GError **error)
{
  const VmlToken *t2 = user_data;
  gboolean held = FALSE;

  if (!lease_sanlock_disk_held_shared_by (self->sanlock, disk->name, disk->offset, t2->dest,
                                          t2->dest_gen, &held, error))
    return FALSE;
  if (!held)
    g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                 "the destination, host %" G_GUINT64_FORMAT ", does not hold disk \"%s\" "
                 "shared; letting go now would leave it to nobody", t2->dest, disk->key);
  return held;
}

/* thread: perform. The common disks go only once the destination (in the
 * generation of the token) holds each one shared; post-copy: every disk.
 * Each disk holder's checks (two sectors each) and then its releases run
 * side by side with the other holders': the disks' part of the blackout
 * grows with the disks per holder, not with all of them. */
gboolean
transfer_disks_perform (VmlLease *self, StepData *data, GError **error)
{
  const VmlToken *t2 = data->token;
  g_autoptr(GPtrArray) going = g_ptr_array_new ();

  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      disk->common = named_in (t2->disks, disk->key, NULL);
      if (disk->holder != NULL && (disk->common || data->postcopy))
        g_ptr_array_add (going, disk);
    }
  return lease_disks_check_then_release (self, going, destination_shares, (gpointer) t2, error);
}

/* thread: the disks this side let go of for good (confirm success: those
 * only the source had; cancel, failure: all of the destination's). */
gboolean
transfer_disks_let_go (VmlLease *self, StepData *data, gboolean only_own, GError **error)
{
  g_autoptr(GPtrArray) going = g_ptr_array_new ();

  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      if (!only_own || !disk->common)
        g_ptr_array_add (going, disk);
    }
  return lease_disks_let_go (self, going, error);
}

/* thread: the source takes back the common disks perform let go of (after
 * the VM lease), and its exclusive disks are exclusive again. */
gboolean
transfer_disks_take_back (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(GPtrArray) held = g_ptr_array_new ();
  g_autoptr(GPtrArray) wanted = g_ptr_array_new ();

  if (data->disk_holders == NULL)
    data->disk_holders = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];

      if (disk->holder != NULL)
        {
          g_ptr_array_add (held, disk);
          if (!g_ptr_array_find (data->disk_holders, disk->holder, NULL))
            g_ptr_array_add (data->disk_holders, g_object_ref (disk->holder));
        }
      else
        {
          disk->common = FALSE;
          g_ptr_array_add (wanted, disk);
        }
    }
  return lease_disks_take (self, held, wanted, data->disk_holders, data->fence, data->fence_pid,
                           data->fence_qmp, error) &&
         transfer_disks_to_exclusive (self, data, error);
}

/* Main loop: the lease's disks are now the step's (copies with their
 * holders): new holders adopted, holders left with nothing ended. */
void
transfer_disks_apply (VmlLease *self, StepData *data)
{
  if (data->disks == NULL)
    return;
  for (guint h = 0; data->disk_holders != NULL && h < data->disk_holders->len; h++)
    {
      VmlHolder *holder = data->disk_holders->pdata[h];

      if (g_ptr_array_find (self->disk_holders, holder, NULL))
        continue;
      g_ptr_array_add (self->disk_holders, g_object_ref (holder));
      lease_adopt_disk_holder (self, holder);
    }
  g_ptr_array_set_size (self->disks, 0);
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = g_steal_pointer (&data->disks->pdata[i]);

      if (disk->done)
        g_clear_object (&disk->holder);
      disk->done = FALSE;
      g_ptr_array_add (self->disks, disk);
    }
  g_ptr_array_set_size (data->disks, 0);
  lease_disks_end_idle_holders (self);
  lease_disks_publish (self);
}
