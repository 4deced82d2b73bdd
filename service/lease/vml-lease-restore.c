/* vml-lease-restore.c: a lease made again from its state record, and the
 * check after a restart of vmleased of what the record says against what
 * sanlock says: a holder still holding is adopted, a hand-off resumes at
 * its recorded step, anything else is a loss. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

#define GROUP LEASE_RECORD_GROUP

/* ---------------------------------------------------------------------- */
/* Restore after a restart of vmleased                                    */

typedef struct {
  pid_t       pid;
  guint64     start_time;
  LeaseState  recorded;
  gboolean    idle_expected;   /* a hand-off's source after perform holds nothing */
  gboolean    foreign;         /* the recorded pid holds some other lease */
  gboolean    orphan_prepare;  /* a prepare that never returned its token */
  gboolean    marker_only;     /* the holder keeps only this lease's transfer marker */
  gboolean    performing;      /* the source's record: inside perform (write-ahead) */
  VmlHolder  *holder;
  gboolean    held;
  gboolean    shared;
  guint64     lver;
  GPtrArray  *disks;          /* copies of the recorded disks, and of the pending ones */
  GPtrArray  *pending;
  GPtrArray  *disks_held;     /* ... those sanlock says their holder holds now */
  GPtrArray  *pending_held;
  guint       pending_asked;  /* how many disks the interrupted take asked for */
} RestoreData;

static void
restore_data_free (RestoreData *data)
{
  g_clear_pointer (&data->disks, g_ptr_array_unref);
  g_clear_pointer (&data->pending, g_ptr_array_unref);
  g_clear_pointer (&data->disks_held, g_ptr_array_unref);
  g_clear_pointer (&data->pending_held, g_ptr_array_unref);
  g_clear_object (&data->holder);
  g_free (data);
}

/* perform lets each common disk go before the VM lease (docs/decisions.md
 * "Disk leases"): vmleased stopped inside a perform may have let some go
 * and kept the VM lease. Then the hand-off goes back to after begin, which
 * needs those disks shared again; the destination shares them, so nobody
 * else can hold them exclusively: their holders take them back, shared,
 * rather than the unit be lost (and the paused VM fenced) for a step that
 * never finished. */
static void
retake_common_disks (VmlLease *self, RestoreData *data)
{
  if (!data->performing || !data->held || !data->shared || data->disks_held == NULL)
    return;
  for (guint i = 0; i < data->disks->len; i++)
    {
      LeaseDisk *disk = data->disks->pdata[i];
      g_autoptr(GError) error = NULL;

      /* which ones perform let go is not recorded (it decides in the
       * blackout): after begin every disk of the source is shared, so any
       * missing one is taken back shared */
      if (disk->holder == NULL || lease_disks_find (data->disks_held, disk->key) != NULL)
        continue;
      if (!lease_sanlock_disk_acquire (self->sanlock, disk->holder, disk->key, disk->name,
                                       disk->offset, TRUE, disk->mode == VML_MODE_SHARED,
                                       &error))
        {
          vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self),
                   "Cannot take disk \"%s\" back after the perform that let it go: %s",
                   disk->key, error->message);
          continue;
        }
      vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self),
               "Disk \"%s\" was let go inside a perform that did not finish; taken back "
               "shared", disk->key);
      g_ptr_array_add (data->disks_held, lease_disk_copy (disk));
    }
}

/* A take of disks is all or nothing (Acquire with disks, AttachDisks). One
 * that vmleased did not finish, found with only some of its disks held, is
 * undone, cleanly: the disks it got released in sanlock, then their holders
 * stopped; for an Acquire, which never answered, the VM lease too. A take
 * that got every disk counts as done. (A hand-off's takes are its steps'.) */
static void
undo_unfinished_take (VmlLease *self, RestoreData *data)
{
  g_autoptr(GError) error = NULL;
  gboolean partial, without_lease;

  if (data->pending_held == NULL ||
      data->recorded == LEASE_MIGRATING_IN || data->recorded == LEASE_MIGRATING_OUT)
    return;
  partial = data->pending_asked > data->pending_held->len;
  /* an Acquire takes its disks while it takes the VM lease: all of them
   * and not the VM lease is no unit either */
  without_lease = data->recorded == LEASE_ACQUIRING && !data->held &&
                  data->pending_held->len > 0;
  if (!partial && !without_lease)
    return;
  vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self),
           "vmleased stopped inside a take of %u disk(s), of which sanlock holds %u: "
           "undone%s", data->pending_asked, data->pending_held->len,
           data->recorded == LEASE_ACQUIRING && data->held ? ", with the VM lease (that "
           "Acquire never answered)" : "");
  lease_disks_let_go_all (self, data->pending_held);
  g_ptr_array_set_size (data->pending_held, 0);
  if (data->recorded != LEASE_ACQUIRING || !data->held)
    return;
  if (!lease_sanlock_release (self->sanlock, data->holder, &error))
    {
      /* Still held: adopted as it is rather than fenced for nothing. */
      vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .holder_pid = data->pid),
               "Cannot release the VM lease of that Acquire: %s; it stays held",
               error->message);
      return;
    }
  vml_holder_stop (data->holder, HOLDER_STOP_MS);
  g_clear_object (&data->holder);
  data->held = FALSE;
}

static void
restore_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  RestoreData *data = task_data;
  g_autoptr(GError) error = NULL;

  /* The disks: sanlock says what each holder holds (a pending disk's
   * holder that holds nothing is stopped). */
  data->disks_held = lease_disks_still_held (self, data->disks, FALSE);
  data->pending_held = lease_disks_still_held (self, data->pending, TRUE);
  data->holder = vml_holder_adopt (data->pid, data->start_time, NULL);
  if (data->holder == NULL)
    {
      undo_unfinished_take (self, data);
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (!lease_sanlock_inquire_holder (self->sanlock, data->pid, &data->held, &data->shared,
                                     &data->lver, &error))
    vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .holder_pid = data->pid),
             "Cannot ask sanlock about holder %d of %s: %s",
             (int) data->pid, self->uuid, error->message);
  undo_unfinished_take (self, data);
  retake_common_disks (self, data);
  if (data->holder == NULL)
    {
      g_task_return_boolean (task, TRUE);   /* that Acquire undone: nothing held */
      return;
    }
  /* perform recorded "performing" before its release: a holder that holds
   * nothing now let go in that perform, and keeps the marker (pre-copy) */
  if (data->performing && !data->held)
    data->idle_expected = TRUE;
  if (!data->held && !data->idle_expected && !data->orphan_prepare &&
      data->recorded != LEASE_CONVERTING)
    {
      /* A damaged or copied record may name the holder of another lease:
       * that holder is none of ours to stop. One that holds only this
       * lease's transfer marker is ours: vmleased stopped inside a perform,
       * after the lease went and before the step was recorded (or while a
       * post-copy perform's marker was kept). It is stopped below, so that
       * the marker does not keep every other host from a shared Acquire
       * and the next hand-off from its begin. */
      data->marker_only = lease_sanlock_holder_holds_only_marker (self->sanlock, data->pid);
      /* Let go of the marker for it first: a holder stopped while it holds
       * something takes that as a revocation and fences the VM. */
      if (data->marker_only)
        {
          lease_sanlock_marker_drop (self->sanlock, data->holder);
          /* The disks only this side held (the common ones went at
           * perform) go too, cleanly: the VM is paused, not fenced. */
          lease_disks_let_go_all (self, data->disks);
          lease_disks_let_go_all (self, data->pending_held);
        }
      if (!data->marker_only && lease_sanlock_holder_holds_any (data->pid))
        {
          data->foreign = TRUE;
          g_clear_object (&data->holder);
          g_task_return_boolean (task, TRUE);
          return;
        }
    }
  if ((!data->held && !data->idle_expected) || data->orphan_prepare)
    {
      /* A holder that holds nothing is of no use; one whose prepare never
       * answered would only block the source from taking the lease back. */
      vml_holder_stop (data->holder, HOLDER_STOP_MS);
      g_clear_object (&data->holder);
    }
  g_task_return_boolean (task, TRUE);
}

/* vmleased restarted while the destination converted to exclusive after
 * finish: the conversion goes on if the holder still holds the lease (it
 * finds it done if it is held exclusively already); if not, the guest,
 * which runs on it, is fenced (docs/model.md: restore). */
static void
restored_converting (VmlLease *self, RestoreData *data)
{
  if (!data->held || data->holder == NULL)
    {
      lease_report_holder_end (self, data->pid, -1,
                               " during the conversion after finish, while vmleased was not "
                               "running");
      return;
    }
  for (guint h = 0; h < self->disk_holders->len; h++)
    lease_adopt_disk_holder (self, self->disk_holders->pdata[h]);
  lease_disks_publish (self);
  lease_adopt_holder (self, g_steal_pointer (&data->holder));
  self->mode = VML_MODE_SHARED;
  lease_publish_holding (self);
  lease_save_or_warn (self);
  vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .holder_pid = data->pid),
           "Resuming the conversion to exclusive after finish (the lease is held %s)",
           data->shared ? "shared" : "exclusively already");
  lease_storage_warn_if_failing (self);
  start_conversion (self);
}

/* vmleased restarted in the middle of a hand-off: resume at the step the
 * record names, if the holder still holds what that step left it. */
/* vmleased stopped inside a perform, after its write-ahead record: if the
 * holder still holds the share, the release never happened and the hand-off
 * is back after begin; if not, the lease went to the destination and the
 * perform is done, as a pre-copy one (it never answered, so nobody can have
 * started the guest there): cancel or confirm failure can take the lease
 * back with the version recorded (docs/model.md, finding 1). */
static void
restored_performing (VmlLease *self, RestoreData *data)
{
  gboolean released = !(data->held && data->shared);

  lease_transfer_set (self, TRANSFER_SOURCE, self->transfer.id, released ? "perform" : "begin",
                      self->transfer.peer);
  self->transfer.postcopy = FALSE;
  vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .host_id = self->transfer.peer,
                                             .holder_pid = data->pid),
           "vmleased stopped inside a perform; %s", released
           ? "the lease had gone to the destination: the perform counts as done (not "
             "committed), and cancel can still take the lease back"
           : "the lease was not let go yet: the hand-off is back after begin");
}

static void
restored_in_transfer (VmlLease *self, RestoreData *data)
{
  if (data->performing)
    {
      restored_performing (self, data);
      /* after perform a source needs no holder (take-back makes one) */
      data->idle_expected = vml_transfer_source_let_go (&self->transfer);
    }
  if (data->orphan_prepare)
    {
      lease_transfer_clear (self);
      lease_set_state (self, LEASE_FREE);
    }
  else if (data->idle_expected || (data->held && data->shared))
    {
      for (guint h = 0; h < self->disk_holders->len; h++)
        lease_adopt_disk_holder (self, self->disk_holders->pdata[h]);
      lease_disks_publish (self);
      if (data->holder != NULL)
        lease_adopt_holder (self, g_steal_pointer (&data->holder));
      self->mode = VML_MODE_SHARED;
      vml_log (G_LOG_LEVEL_MESSAGE,
               LEASE_ABOUT (self, .step = self->transfer.step, .host_id = self->transfer.peer,
                            .holder_pid = data->pid),
               "Resuming the hand-off as %s after %s",
               data->recorded == LEASE_MIGRATING_OUT ? "source" : "destination",
               self->transfer.step);
    }
  else
    {
      lease_transfer_clear (self);
      lease_report_holder_end (self, data->pid, -1,
                               " during a hand-off while vmleased was not running");
      return;
    }
  lease_publish_holding (self);
  lease_save_or_warn (self);
  lease_storage_warn_if_failing (self);
}

static void
on_restored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  RestoreData *data = g_task_get_task_data (G_TASK (result));

  lease_disks_restored (self, data->disks_held, data->pending_held,
                        data->foreign || data->marker_only || data->idle_expected);
  if (data->foreign)
    {
      /* Not a loss of ours: nothing to fence, no Lost. */
      vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .holder_pid = data->pid),
               "The record names process %d as holder, but it holds another lease; "
               "the record is wrong and this lease is not held here", (int) data->pid);
      lease_transfer_clear (self);
      lease_watch_fence_pid (self, 0, 0);
      self->fence = VML_FENCE_NONE;
      g_clear_pointer (&self->fence_qmp, g_free);
      lease_set_state (self, LEASE_FREE);
      lease_publish_holding (self);
      lease_save_or_warn (self);
    }
  else if (self->missing_disk != NULL && data->holder != NULL)
    {
      /* The VM lease is still held (or in a hand-off) but a disk holder is
       * gone: the unit is lost. */
      pid_t pid = vml_holder_get_pid (data->holder);
      g_autofree char *why = g_strdup_printf (" (%s, found when vmleased started again; the "
                                              "VM lease and its other disks were let go with "
                                              "it)", self->missing_disk);

      g_clear_pointer (&self->missing_disk, g_free);
      if (self->lost_resource == NULL)
        self->lost_resource = g_strdup ("disk");
      vml_holder_terminate (data->holder);
      lease_transfer_clear (self);
      lease_report_holder_end (self, pid, -1, why);
    }
  else if (data->marker_only)
    {
      /* The source's perform let the lease go to the destination, which
       * holds it; nothing recorded that, so this hand-off cannot be
       * resumed (no take-back: the version at perform is unknown). Its
       * marker was let go and its holder stopped above. The VM is not
       * fenced: after a perform it is paused, as after any perform here.
       * Disks only this host held (a hand-off with a different disk set)
       * were let go above, and their holders stopped. */
      vml_log (G_LOG_LEVEL_WARNING,
               LEASE_ABOUT (self, .holder_pid = data->pid, .host_id = self->transfer.peer),
               "vmleased stopped inside a perform: the lease went to the destination before "
               "the step was recorded; the hand-off ends here, and this host no longer holds "
               "the lease");
      lease_transfer_clear (self);
      lease_watch_fence_pid (self, 0, 0);
      lease_disks_forget (self);
      lease_set_state (self, LEASE_FREE);
      lease_publish_holding (self);
      lease_save_or_warn (self);
    }
  else if (data->recorded == LEASE_MIGRATING_OUT || data->recorded == LEASE_MIGRATING_IN)
    restored_in_transfer (self, data);
  else if (data->recorded == LEASE_CONVERTING)
    restored_converting (self, data);
  else if (data->held)
    {
      for (guint h = 0; h < self->disk_holders->len; h++)
        lease_adopt_disk_holder (self, self->disk_holders->pdata[h]);
      lease_disks_publish (self);
      lease_adopt_holder (self, g_steal_pointer (&data->holder));
      self->mode = data->shared ? VML_MODE_SHARED : VML_MODE_EXCLUSIVE;
      /* sanlock reports no version for shared holds: keep the recorded one. */
      if (data->lver != 0)
        self->lver = data->lver;
      lease_set_state (self, data->shared ? LEASE_HELD_SHARED : LEASE_HELD);
      lease_publish_holding (self);
      lease_save_or_warn (self);
      vml_log (G_LOG_LEVEL_MESSAGE,
               LEASE_ABOUT (self, .holder_pid = data->pid, .message_id = VML_MSGID_LEASE_ADOPTED),
               "Lease still held by holder %d; adopted", (int) data->pid);
      lease_storage_warn_if_failing (self);
    }
  else if (data->recorded == LEASE_RELEASING || data->recorded == LEASE_ACQUIRING)
    {
      /* That operation never finished; nothing is held, nothing was lost
       * (disk holders it left are told to go). */
      lease_disks_kill_all (self);
      lease_set_state (self, LEASE_FREE);
      lease_publish_holding (self);
      lease_save_or_warn (self);
    }
  else
    lease_report_holder_end (self, data->pid, -1, " while vmleased was not running");
  lease_finish_op (self, NULL, NULL);
}

static void
start_restore (VmlLease *self, GTask *op)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, on_restored, NULL);
  RestoreData *data = g_new0 (RestoreData, 1);

  data->pid = self->recorded_holder_pid;
  data->start_time = self->recorded_holder_start;
  data->recorded = self->state;
  data->idle_expected = vml_transfer_source_let_go (&self->transfer);
  data->orphan_prepare = self->state == LEASE_MIGRATING_IN && self->transfer.role == TRANSFER_NONE;
  data->disks = lease_disks_copy (self->disks);
  data->pending = lease_disks_copy (self->pending_disks);
  data->pending_asked = self->pending_asked;
  self->pending_asked = 0;
  data->performing = self->transfer.role == TRANSFER_SOURCE &&
                     g_strcmp0 (self->transfer.step, "performing") == 0;
  g_task_set_task_data (task, data, (GDestroyNotify) restore_data_free);
  g_task_run_in_thread (task, restore_thread);
}

static void
on_restore_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  lease_op_result_ok (result, NULL);
}

void
vml_lease_restore_held_by (VmlLease *self, pid_t pid, guint64 start_time, gboolean shared)
{
  if (pid != self->recorded_holder_pid)
    vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .holder_pid = pid),
             "sanlock says holder %d holds the lease, the record says %s %d; "
             "trusting sanlock", (int) pid, lease_state_names[self->state],
             (int) self->recorded_holder_pid);
  self->recorded_holder_pid = pid;
  self->recorded_holder_start = start_time;
  if (!lease_state_has_holder (self->state) && self->state != LEASE_RELEASING &&
      self->state != LEASE_ACQUIRING)
    {
      self->mode = shared ? VML_MODE_SHARED : VML_MODE_EXCLUSIVE;
      lease_set_state (self, shared ? LEASE_HELD_SHARED : LEASE_HELD);
    }
  vml_lease_restore (self);
}

void
vml_lease_restore (VmlLease *self)
{
  if (self->state == LEASE_FREE || self->state == LEASE_LOST)
    return;
  lease_enqueue_op (self, g_task_new (self, NULL, on_restore_done, NULL), start_restore);
}

/* ---------------------------------------------------------------------- */
/* From a record                                                          */

/* The disks of the record (lease_disks_to_record's lines), their holders
 * adopted by pid and start time. @pending: the "pending_disks" lines, to
 * self->pending_disks; a holder of those that is gone is passed by (it
 * held nothing, or sanlock freed what it held). */
static gboolean
disks_from_record (VmlLease *self, char **lines, gboolean pending, GError **error)
{
  for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
    {
      g_auto(GStrv) f = g_strsplit (lines[i], " ", 0);
      VmlHolder *holder = NULL;
      LeaseDisk *disk;
      VmlMode mode;
      pid_t pid;
      guint64 start;

      if (g_strv_length (f) != 7 || !vml_disk_check_key (f[0], NULL) ||
          !vml_mode_from_string (f[1], &mode, NULL))
        {
          g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "damaged disk line \"%s\"", lines[i]);
          return FALSE;
        }
      pid = (pid_t) g_ascii_strtoll (f[4], NULL, 10);
      start = g_ascii_strtoull (f[5], NULL, 10);
      for (guint h = 0; h < self->disk_holders->len && holder == NULL; h++)
        if (vml_holder_get_pid (self->disk_holders->pdata[h]) == pid)
          holder = g_object_ref (self->disk_holders->pdata[h]);
      for (guint p = 0; pending && self->pending_disks != NULL &&
                        p < self->pending_disks->len && holder == NULL; p++)
        if (vml_holder_get_pid (((LeaseDisk *) self->pending_disks->pdata[p])->holder) == pid)
          holder = g_object_ref (((LeaseDisk *) self->pending_disks->pdata[p])->holder);
      if (holder == NULL && pid != 0)
        {
          holder = vml_holder_adopt (pid, start, pending ? NULL : error);
          if (holder == NULL && pending)
            continue;
          if (holder == NULL)
            {
              g_prefix_error (error, "the holder of disk \"%s\": ", f[0]);
              return FALSE;
            }
          /* a pending disk's holder joins the lease's only if restore
           * finds it holding (lease_disks_restored) */
          if (!pending)
            g_ptr_array_add (self->disk_holders, g_object_ref (holder));
        }
      if (pending && holder == NULL)
        continue;
      disk = lease_disk_new (f[0], f[2], mode, g_ascii_strtoull (f[3], NULL, 10));
      disk->holder = holder;
      disk->common = g_str_equal (f[6], "1");
      g_ptr_array_add (pending ? lease_disks_pending (self) : self->disks, disk);
    }
  return TRUE;
}

static gboolean
state_from_string (const char *str, LeaseState *state)
{
  for (guint i = 0; i < LEASE_N_STATES; i++)
    if (g_str_equal (lease_state_names[i], str))
      {
        *state = i;
        return TRUE;
      }
  return FALSE;
}

VmlLease *
vml_lease_new_from_record (const VmlLeaseContext *ctx, GKeyFile *record,
                           VmlLockspace *lockspace, GError **error)
{
  g_autofree char *uuid = g_key_file_get_string (record, GROUP, "uuid", NULL);
  g_autofree char *name = g_key_file_get_string (record, GROUP, "name", NULL);
  g_autofree char *path = g_key_file_get_string (record, GROUP, "path", NULL);
  g_autofree char *state = g_key_file_get_string (record, GROUP, "state", NULL);
  g_autofree char *mode = g_key_file_get_string (record, GROUP, "mode", NULL);
  g_autofree char *fence = g_key_file_get_string (record, GROUP, "fence", NULL);
  g_autofree char *fence_qmp = g_key_file_get_string (record, GROUP, "fence_qmp", NULL);
  g_autoptr(VmlLease) self = NULL;
  LeaseState recorded;

  if (uuid == NULL || !g_uuid_string_is_valid (uuid) || path == NULL || state == NULL ||
      !state_from_string (state, &recorded))
    {
      g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                           "the record lacks a valid uuid, path or state");
      return NULL;
    }
  self = vml_lease_new (ctx, uuid, name ? name : "", lockspace, path,
                        g_key_file_get_uint64 (record, GROUP, "offset", NULL),
                        g_key_file_get_boolean (record, GROUP, "indexed", NULL));
  if ((mode && !vml_mode_from_string (mode, &self->mode, error)) ||
      (fence && !vml_fence_from_string (fence, &self->fence, error)) ||
      (fence_qmp && !vml_check_qmp_path (fence_qmp, error)))
    return NULL;
  self->fence_qmp = g_steal_pointer (&fence_qmp);
  lease_watch_fence_pid (self, (guint) g_key_file_get_uint64 (record, GROUP, "fence_pid", NULL),
                         g_key_file_get_uint64 (record, GROUP, "fence_start", NULL));
  self->owner_uid = (guint) g_key_file_get_uint64 (record, GROUP, "owner_uid", NULL);
  self->lver = g_key_file_get_uint64 (record, GROUP, "lver", NULL);
  self->recorded_holder_pid = (pid_t) g_key_file_get_uint64 (record, GROUP, "holder_pid", NULL);
  self->recorded_holder_start = g_key_file_get_uint64 (record, GROUP, "holder_start", NULL);
  lease_transfer_load (self, record);
  {
    g_auto(GStrv) disks = g_key_file_get_string_list (record, GROUP, "disks", NULL, NULL);
    g_autoptr(GError) disk_error = NULL;

    /* A disk holder that is gone lost its disks: the unit is lost, which
     * restore reports (with the VM fenced) rather than hide here. */
    if (!disks_from_record (self, disks, FALSE, &disk_error))
      {
        self->missing_disk = g_strdup (disk_error->message);
        vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self), "%s", disk_error->message);
      }
  }
  {
    g_auto(GStrv) pending = g_key_file_get_string_list (record, GROUP, "pending_disks", NULL,
                                                        NULL);

    self->pending_asked = pending != NULL ? g_strv_length (pending) : 0;
    disks_from_record (self, pending, TRUE, NULL);
  }
  lease_set_state (self, recorded);
  vml_dbus_lease_set_fence_pid (self->iface, self->fence_pid);
  vml_dbus_lease_set_fence (self->iface, vml_fence_to_string (self->fence));
  vml_dbus_lease_set_version (self->iface, self->lver);
  return g_steal_pointer (&self);
}

