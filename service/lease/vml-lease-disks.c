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
#include "vml-fault.h"
#include "vml-lease-private.h"

GPtrArray *
lease_disks_copy (GPtrArray *disks)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);

  for (guint i = 0; disks != NULL && i < disks->len; i++)
    g_ptr_array_add (copy, lease_disk_copy (disks->pdata[i]));
  return copy;
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

static GPtrArray *
disks_at (GPtrArray *specs, GArray *offsets)
{
  GPtrArray *disks = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);

  for (guint i = 0; i < specs->len; i++)
    {
      VmlDiskSpec *spec = specs->pdata[i];

      g_ptr_array_add (disks, lease_disk_new (spec->key, spec->name, spec->mode,
                                              g_array_index (offsets, guint64, i)));
    }
  return disks;
}

static void
on_located (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmlLease *self = g_task_get_source_object (task);
  GPtrArray *specs = g_task_get_task_data (task);
  g_autoptr(GArray) offsets = NULL;
  GError *error = NULL;

  offsets = vml_lockspace_index_find_or_add_finish (VML_LOCKSPACE (source), result, &error);
  if (offsets == NULL)
    {
      g_prefix_error (&error, "cannot allocate the lease of a disk in lockspace '%s': ",
                      vml_lockspace_get_name (VML_LOCKSPACE (source)));
      g_task_return_error (task, error);
      return;
    }
  for (guint i = 0; i < specs->len; i++)
    lease_sanlock_disk_remember (self->sanlock, ((VmlDiskSpec *) specs->pdata[i])->name,
                                 g_array_index (offsets, guint64, i));
  g_task_return_pointer (task, disks_at (specs, offsets), (GDestroyNotify) g_ptr_array_unref);
}

/* Without the index lock first: every key used before is in the index
 * for good (and, after this lease's first Acquire with it, remembered by
 * the door). Only a key no host used yet needs the lock (a holder of its
 * own, the index's paxos lease, one look per name). */
static void
lookup_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  GPtrArray *specs = task_data;
  GArray *offsets = g_array_sized_new (FALSE, FALSE, sizeof (guint64), specs->len);

  for (guint i = 0; i < specs->len; i++)
    {
      guint64 offset = 0;

      if (!lease_sanlock_disk_lookup (self->sanlock, ((VmlDiskSpec *) specs->pdata[i])->name,
                                      &offset, NULL))
        {
          g_array_unref (offsets);
          g_task_return_pointer (task, NULL, NULL);
          return;
        }
      g_array_append_val (offsets, offset);
    }
  g_task_return_pointer (task, offsets, (GDestroyNotify) g_array_unref);
}

static void
on_looked_up (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *task = user_data;
  GPtrArray *specs = g_task_get_task_data (task);
  g_autoptr(GArray) offsets = g_task_propagate_pointer (G_TASK (result), NULL);
  g_autoptr(GPtrArray) names = NULL;

  if (offsets != NULL)
    {
      g_task_return_pointer (task, disks_at (specs, offsets), (GDestroyNotify) g_ptr_array_unref);
      g_object_unref (task);
      return;
    }
  names = g_ptr_array_new ();
  for (guint i = 0; i < specs->len; i++)
    g_ptr_array_add (names, ((VmlDiskSpec *) specs->pdata[i])->name);
  vml_lockspace_index_find_or_add_async (self->lockspace,
                                         vml_holder_pool_get_holder_path (self->holders), names,
                                         on_located, task);
}

void
lease_disks_locate (VmlLease *self, GPtrArray *specs, GAsyncReadyCallback done,
                    gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, done, user_data);
  g_autoptr(GTask) lookup = g_task_new (self, NULL, on_looked_up, task);

  g_task_set_task_data (task, g_ptr_array_ref (specs), (GDestroyNotify) g_ptr_array_unref);
  g_task_set_task_data (lookup, g_ptr_array_ref (specs), (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (lookup, lookup_thread);
}

GPtrArray *
lease_disks_locate_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------------- */
/* Taking and letting go (worker threads)                                 */

guint
lease_disks_kept_by (GPtrArray *disks, VmlHolder *holder)
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
    if (lease_disks_kept_by (held, holders->pdata[h]) + lease_disks_kept_by (wanted, holders->pdata[h]) <
        VML_DISKS_PER_HOLDER)
      return holders->pdata[h];
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Write-ahead: what a take is about to ask sanlock for is in the record   */

/* A worker thread's call into the main loop, waited for: the record and
 * the pool belong to the main loop, and the take must not go on before the
 * record is on disk. Always through an idle source on the default context,
 * never run in the calling thread. */
typedef struct {
  GSourceFunc func;
  gpointer    data;
  GMutex      lock;
  GCond       cond;
  gboolean    done;
} MainCall;

static gboolean
main_call_run (gpointer user_data)
{
  MainCall *call = user_data;

  call->func (call->data);
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

static void
in_main_loop (GSourceFunc func, gpointer data)
{
  MainCall call = { .func = func, .data = data };
  g_autoptr(GSource) source = g_idle_source_new ();

  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, main_call_run, &call, NULL);
  g_source_attach (source, g_main_context_default ());
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_cond_wait (&call.cond, &call.lock);
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);
}

typedef struct {
  VmlLease  *self;
  guint      want;      /* spares wanted from the pool */
  GPtrArray *spares;    /* out: VmlHolder */
  GPtrArray *disks;     /* LeaseDisk: to record as pending, or to forget */
  gboolean   forget;
} Intent;

static gboolean
take_spares_in_main (gpointer user_data)
{
  Intent *in = user_data;

  for (guint i = 0; i < in->want; i++)
    {
      VmlHolder *spare = vml_holder_pool_take (in->self->holders);

      if (spare == NULL)
        break;
      g_ptr_array_add (in->spares, spare);
    }
  return G_SOURCE_REMOVE;
}

static void
pending_remove_key (GPtrArray *pending, const char *key)
{
  for (guint i = pending->len; i > 0; i--)
    if (g_str_equal (((LeaseDisk *) pending->pdata[i - 1])->key, key))
      g_ptr_array_remove_index (pending, i - 1);
}

static gboolean
record_intent_in_main (gpointer user_data)
{
  Intent *in = user_data;
  GPtrArray *pending = lease_disks_pending (in->self);
  g_autoptr(GPtrArray) copies = lease_disks_copy (in->disks);

  for (guint i = 0; i < copies->len; i++)
    {
      LeaseDisk *disk = copies->pdata[i];

      pending_remove_key (pending, disk->key);
      if (!in->forget)
        g_ptr_array_add (pending, g_steal_pointer (&copies->pdata[i]));
    }
  lease_save_or_warn (in->self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* Taking (worker threads)                                                */

static VmlHolder *
claimed_disk_holder (VmlLease *self, VmlHolder *spare, VmlFence fence, guint fence_pid,
                     const char *fence_qmp, GError **error)
{
  g_autoptr(VmlHolder) holder = spare;

  if (holder == NULL)
    holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
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

/* How many new holders @wanted needs beyond the room @holders has left. */
static guint
new_holders_needed (GPtrArray *held, GPtrArray *wanted, GPtrArray *holders)
{
  guint room = 0;

  for (guint h = 0; h < holders->len; h++)
    room += VML_DISKS_PER_HOLDER - MIN (VML_DISKS_PER_HOLDER,
                                        lease_disks_kept_by (held, holders->pdata[h]));
  if (wanted->len <= room)
    return 0;
  return (wanted->len - room + VML_DISKS_PER_HOLDER - 1) / VML_DISKS_PER_HOLDER;
}

/* One holder's share of a take: its disks, one sanlock call each, in
 * order; the holders' shares run at once (sanlock serves its clients in
 * parallel; one client takes one command at a time). */
typedef struct {
  VmlLease  *self;
  VmlHolder *holder;
  GPtrArray *wanted;
  gboolean   ok;
  GError    *error;
  gpointer   extra;   /* what the share's function needs besides */
} Share;

/* @one for each of the share's holder's disks, in order, until one fails;
 * each disk's done says whether its @one got through. */
static void
share_each_disk (Share *share, gboolean (*one) (Share *share, LeaseDisk *disk))
{
  for (guint i = 0; i < share->wanted->len && share->ok; i++)
    {
      LeaseDisk *disk = share->wanted->pdata[i];

      if (disk->holder != share->holder)
        continue;
      share->ok = one (share, disk);
      disk->done = share->ok;
    }
}

static gboolean
take_one (Share *share, LeaseDisk *disk)
{
  return lease_sanlock_disk_acquire (share->self->sanlock, share->holder, disk->key, disk->name,
                                     disk->offset, disk->mode == VML_MODE_SHARED || disk->common,
                                     disk->mode == VML_MODE_SHARED, &share->error);
}

/* done: taken in sanlock (to be let go again if the take fails) */
static gpointer
take_share (gpointer user_data)
{
  share_each_disk (user_data, take_one);
  return NULL;
}

static void
write_note (gpointer disk_data, gpointer user_data)
{
  LeaseDisk *disk = disk_data;

  lease_sanlock_disk_note (VML_LEASE (user_data)->sanlock, disk->offset,
                           disk->mode == VML_MODE_SHARED);
}

/* Each disk's note, once all are taken: written at once (one 4 KiB write
 * each), off the holders' sanlock commands, which it would otherwise
 * follow one by one. */
static void
write_notes (VmlLease *self, GPtrArray *disks)
{
  GThreadPool *pool;

  if (disks->len == 0)
    return;
  pool = g_thread_pool_new (write_note, self, MIN (disks->len, VML_DISKS_PER_HOLDER), FALSE, NULL);
  for (guint i = 0; i < disks->len; i++)
    g_thread_pool_push (pool, disks->pdata[i], NULL);
  g_thread_pool_free (pool, FALSE, TRUE);
}

/* Runs @func for each holder keeping some of @disks, at once (one thread
 * per holder past the first; sanlock serves its clients in parallel, one
 * command per client at a time). The first failure goes to @error. */
static gboolean
each_holder_at_once (VmlLease *self, GPtrArray *disks, GPtrArray *holders, GThreadFunc func,
                     gpointer extra, GError **error)
{
  g_autoptr(GPtrArray) threads = g_ptr_array_new ();
  g_autofree Share *shares = g_new0 (Share, holders->len);
  Share *here = NULL;
  gboolean ok = TRUE;

  for (guint h = 0; h < holders->len; h++)
    {
      shares[h] = (Share) { self, holders->pdata[h], disks, TRUE, NULL, extra };
      if (lease_disks_kept_by (disks, holders->pdata[h]) == 0)
        continue;
      if (here == NULL)
        here = &shares[h];   /* this thread's own share */
      else
        g_ptr_array_add (threads, g_thread_new ("vml-disks", func, &shares[h]));
    }
  if (here != NULL)
    func (here);
  for (guint t = 0; t < threads->len; t++)
    g_thread_join (threads->pdata[t]);
  for (guint h = 0; h < holders->len; h++)
    {
      if (!shares[h].ok && ok)
        g_propagate_error (error, g_steal_pointer (&shares[h].error));
      ok = ok && shares[h].ok;
      g_clear_error (&shares[h].error);
    }
  return ok;
}

static void undo_take (VmlLease *self, GPtrArray *wanted, GPtrArray *holders, guint first_new,
                       gboolean all);

gboolean
lease_disks_take (VmlLease *self, GPtrArray *held, GPtrArray *wanted, GPtrArray *holders,
                  VmlFence fence, guint fence_pid, const char *fence_qmp, GError **error)
{
  guint first_new = holders->len;
  Intent intent = { .self = self, .disks = wanted };
  gboolean ok = TRUE;

  /* The holders first: spares from the pool (already started), else new
   * ones, all claimed for the VM. */
  intent.want = new_holders_needed (held, wanted, holders);
  intent.spares = g_ptr_array_new ();
  if (intent.want > 0)
    in_main_loop (take_spares_in_main, &intent);
  for (guint n = 0; n < intent.want && ok; n++)
    {
      VmlHolder *spare = n < intent.spares->len ? g_steal_pointer (&intent.spares->pdata[n]) : NULL;
      VmlHolder *holder = claimed_disk_holder (self, spare, fence, fence_pid, fence_qmp,
                                                   error);

      ok = holder != NULL;
      if (ok)
        g_ptr_array_add (holders, holder);
    }
  for (guint n = 0; n < intent.spares->len; n++)
    if (intent.spares->pdata[n] != NULL)
      {
        vml_holder_stop (intent.spares->pdata[n], HOLDER_STOP_MS);
        g_object_unref (intent.spares->pdata[n]);
      }
  g_ptr_array_free (intent.spares, TRUE);
  for (guint i = 0; ok && i < wanted->len; i++)
    {
      LeaseDisk *disk = wanted->pdata[i];

      disk->done = FALSE;
      g_set_object (&disk->holder, holder_with_room (holders, held, wanted));
    }
  if (ok)
    {
      /* Write-ahead: the record names each disk's holder before sanlock is
       * asked, so that a restart finds a holder that took disks (restore
       * asks sanlock what it holds). */
      in_main_loop (record_intent_in_main, &intent);
      vml_crash_point ("disks.recorded");
      ok = each_holder_at_once (self, wanted, holders, take_share, NULL, error);
    }
  if (ok)
    {
      write_notes (self, wanted);
      vml_crash_point ("disks.taken");
      for (guint i = 0; i < wanted->len; i++)
        ((LeaseDisk *) wanted->pdata[i])->done = FALSE;
      return TRUE;
    }
  /* All or nothing: what this call took goes again. */
  vml_crash_point ("disks.take-failed");
  undo_take (self, wanted, holders, first_new, FALSE);
  return FALSE;
}

/* What a take (or the part of it that got through) holds goes again: the
 * disks released in sanlock (@all: every one it gave a holder; else those
 * a failed take had done), the holders it added to @holders (from
 * @first_new on) stopped, the record's pending entries forgotten. */
static void
undo_take (VmlLease *self, GPtrArray *wanted, GPtrArray *holders, guint first_new,
           gboolean all)
{
  Intent intent = { .self = self, .disks = wanted, .forget = TRUE };

  for (guint i = 0; i < wanted->len; i++)
    {
      LeaseDisk *disk = wanted->pdata[i];

      if (disk->holder != NULL && (disk->done || all))
        lease_sanlock_disk_release (self->sanlock, disk->holder, disk->name, disk->offset, NULL);
      disk->done = FALSE;
      g_clear_object (&disk->holder);
    }
  while (holders->len > first_new)
    {
      g_autoptr(VmlHolder) holder = g_object_ref (holders->pdata[holders->len - 1]);

      g_ptr_array_remove_index (holders, holders->len - 1);
      vml_holder_stop (holder, HOLDER_STOP_MS);
    }
  in_main_loop (record_intent_in_main, &intent);
}

void
lease_disks_untake (VmlLease *self, GPtrArray *wanted, GPtrArray *holders)
{
  undo_take (self, wanted, holders, 0, TRUE);
}

/* One holder's disks let go, in order; the first real failure stops that
 * holder's share (a gone holder, or a disk not held, took the disk with
 * it: not a failure). */
static gpointer
let_go_share (gpointer user_data)
{
  Share *share = user_data;

  for (guint i = 0; i < share->wanted->len && share->ok; i++)
    {
      LeaseDisk *disk = share->wanted->pdata[i];
      GError *local_error = NULL;

      if (disk->holder != share->holder || disk->done ||
          lease_sanlock_disk_release (share->self->sanlock, disk->holder, disk->name,
                                      disk->offset, &local_error))
        continue;
      if (!vml_holder_is_alive (disk->holder) ||
          g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_HELD))
        {
          g_clear_error (&local_error);
          continue;
        }
      g_propagate_prefixed_error (&share->error, local_error, "cannot release disk \"%s\": ",
                                  disk->key);
      share->ok = FALSE;
    }
  return NULL;
}

gboolean
lease_disks_let_go (VmlLease *self, GPtrArray *disks, GError **error)
{
  g_autoptr(GPtrArray) holders = g_ptr_array_new ();

  for (guint i = 0; i < disks->len; i++)
    {
      VmlHolder *holder = ((LeaseDisk *) disks->pdata[i])->holder;

      if (holder != NULL && !g_ptr_array_find (holders, holder, NULL))
        g_ptr_array_add (holders, holder);
    }
  return each_holder_at_once (self, disks, holders, let_go_share, NULL, error);
}

typedef struct {
  LeaseDiskCheck check;
  gpointer       data;
} Check;

static gpointer
check_share (gpointer user_data)
{
  Share *share = user_data;
  Check *check = share->extra;

  for (guint i = 0; i < share->wanted->len && share->ok; i++)
    {
      LeaseDisk *disk = share->wanted->pdata[i];

      if (disk->holder == share->holder && disk->common)
        share->ok = check->check (share->self, disk, check->data, &share->error);
    }
  return NULL;
}

static gboolean
release_one (Share *share, LeaseDisk *disk)
{
  if (lease_sanlock_disk_release (share->self->sanlock, disk->holder, disk->name, disk->offset,
                                  &share->error))
    return TRUE;
  g_prefix_error (&share->error, "disk \"%s\": ", disk->key);
  return FALSE;
}

/* Unlike let_go_share, every failure counts: perform must not go on with a
 * disk still held here. done: released. */
static gpointer
release_share (gpointer user_data)
{
  share_each_disk (user_data, release_one);
  return NULL;
}

gboolean
lease_disks_check_then_release (VmlLease *self, GPtrArray *disks, LeaseDiskCheck check,
                                gpointer check_data, GError **error)
{
  g_autoptr(GPtrArray) holders = g_ptr_array_new ();
  Check c = { check, check_data };

  for (guint i = 0; i < disks->len; i++)
    {
      VmlHolder *holder = ((LeaseDisk *) disks->pdata[i])->holder;

      if (holder != NULL && !g_ptr_array_find (holders, holder, NULL))
        g_ptr_array_add (holders, holder);
    }
  return each_holder_at_once (self, disks, holders, check_share, &c, error) &&
         each_holder_at_once (self, disks, holders, release_share, NULL, error);
}

void
lease_disks_seize (VmlLease *self, GPtrArray *disks)
{
  for (guint i = 0; disks != NULL && i < disks->len; i++)
    {
      LeaseDisk *disk = disks->pdata[i];
      g_autoptr(GError) error = NULL;
      gboolean asked = FALSE;

      if (disk->mode == VML_MODE_SHARED)
        continue;   /* shared: taken next to the old sharer, no need to seize */
      if (!lease_sanlock_disk_seize (self->sanlock, disk->name, disk->offset, &asked, &error))
        vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self),
                 "Cannot seize disk \"%s\": %s", disk->key, error->message);
      else if (asked)
        vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .message_id = VML_MSGID_LEASE_SEIZING),
                 "Seizing disk \"%s\" with the VM lease: asked its host to give it up",
                 disk->key);
    }
}
