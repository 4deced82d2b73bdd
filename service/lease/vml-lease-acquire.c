/* vml-lease-acquire.c: VmlLease's Acquire. Its options are checked before
 * it is queued; then it takes a holder (a spare from the pool, or a new one),
 * records it before sanlock is asked, and tries in a worker thread, again
 * every ACQUIRE_RETRY_MS while the lease is busy and the caller waits. With
 * force it seizes the lease from the exclusive owner's host; with request
 * it asks that host to hand the lease over. With "disks", the disk leases
 * are located in the index first and taken right after the VM lease, all
 * or nothing (vml-lease-disks.c). */
#include "config.h"

#include <errno.h>
#include <signal.h>

#include "vml-error.h"
#include "vml-lease-private.h"

#define ACQUIRE_RETRY_MS     500

typedef struct {
  VmlMode     mode;
  VmlFence    fence;
  guint       fence_pid;
  VmlFenceTarget target;   /* fence_pid pinned from the check to the fence */
  char       *fence_qmp;   /* "qmp": the QMP socket of a pause fence, or NULL */
  guint       wait_s;
  guint       uid;
  gint64      deadline;
  LeaseState  previous;
  VmlHolder  *holder;      /* for this acquire, not yet adopted */
  gboolean    claimed;
  guint64     lver;
  gboolean    retry;       /* busy, but the caller asked to wait */
  gboolean    force;       /* seize it from the host holding it */
  gboolean    ask;         /* ask that host to hand it over (a message) */
  gboolean    requested;   /* that host has been asked (request or message) */
  guint64     request_lver; /* the version a seize asked for */
  gint64      requested_at; /* when the seize last wrote its request */
  gint64      disks_requested_at; /* when the seize last asked for the disks (or first
                             * found them busy with the VM lease had); 0: not yet */
  GPtrArray  *disk_specs;  /* VmlDiskSpec asked for; NULL: none */
  GPtrArray  *disks;       /* LeaseDisk, located (and held once taken) */
  GPtrArray  *disk_holders; /* VmlHolder keeping them */
} AcquireData;

static void
acquire_data_free (AcquireData *data)
{
  g_clear_object (&data->holder);
  vml_fence_target_close (&data->target);
  g_free (data->fence_qmp);
  g_clear_pointer (&data->disk_specs, g_ptr_array_unref);
  g_clear_pointer (&data->disks, g_ptr_array_unref);
  g_clear_pointer (&data->disk_holders, g_ptr_array_unref);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcquireData, acquire_data_free)

static void run_acquire_attempt (VmlLease *self, GTask *op);

/* Gives up an acquire: its holder (if any) goes, the state goes back. */
static void
acquire_failed (VmlLease *self, GTask *op, GError *error)
{
  AcquireData *data = g_task_get_task_data (op);

  /* It never held the lease: the pool may keep it as a spare. */
  if (data->holder != NULL)
    vml_holder_pool_give (self->holders, data->holder);
  g_clear_object (&data->holder);
  g_clear_object (&self->acquiring_holder);
  if (g_error_matches (error, VML_ERROR, VML_ERROR_FAILED) &&
      g_cancellable_is_cancelled (g_task_get_cancellable (op)))
    vml_log (G_LOG_LEVEL_MESSAGE, LEASE_ABOUT (self, .caller_uid = data->uid, .has_caller = TRUE),
             "Acquire by uid %u ended: its caller left the bus; the lease is %s "
             "again", data->uid, lease_state_names[data->previous]);
  self->acquire_wait_deadline = 0;
  lease_set_state (self, data->previous);
  lease_save_or_warn (self);
  lease_finish_op (self, NULL, error);
}

/* The owner's host takes one request flag per requesting host per
 * 6 × io_timeout and drops a flag that lapses before that window reopens,
 * so one request can go unheard (a second seize soon after the first).
 * Writing it again every 4 × io_timeout keeps the flag up until heard. */
static gboolean
seize_request_due (VmlLease *self, AcquireData *data)
{
  gint64 every = 4 * (gint64) vml_lockspace_get_io_timeout (self->lockspace) * G_USEC_PER_SEC;

  return !data->requested || g_get_monotonic_time () - data->requested_at >= every;
}

/* Seizing: ask sanlock to make the exclusive owner's host give the lease
 * up (its holder is told to go at that host's next renewal; it fences its
 * VM first). The first request asks for the owner's version + 1; repeats
 * ask for that same version, so a lease that changed hands meanwhile is
 * not taken from its new owner. @error is the Busy that brought us here,
 * replaced on failure. */
static gboolean
request_release (VmlLease *self, AcquireData *data, GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = NULL;
  GError *local_error = NULL;

  if (!data->requested)
    {
      owners = lease_sanlock_read_owners (self->sanlock, &local_error);
      if (owners == NULL)
        goto failed;
      if (owners->owner == 0 && owners->shared_owners->len == 0)
        return TRUE;   /* let go since the acquire saw it busy: the next one takes it */
      if (owners->owner == 0)
        {
          g_clear_error (error);
          g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                       "the lease of %s is held shared, and force only takes a lease from a "
                       "host holding it exclusively", self->uuid);
          return FALSE;
        }
      data->request_lver = owners->lver + 1;
    }
  if (!lease_sanlock_request (self->sanlock, data->request_lver, &local_error))
    {
      /* A repeat that finds the lease free: the owner let go after this
       * round's attempt saw it busy (a loaded owner's host can take about
       * as long as the repeat interval); the next attempt takes it. */
      if (data->requested && g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_HELD))
        {
          g_autoptr(VmlLeaseOwners) now = lease_sanlock_read_owners (self->sanlock, NULL);

          if (now != NULL && now->owner == 0 && now->shared_owners->len == 0)
            {
              g_clear_error (&local_error);
              data->requested_at = g_get_monotonic_time ();
              return TRUE;
            }
        }
      goto failed;
    }
  if (owners != NULL)
    vml_log (G_LOG_LEVEL_MESSAGE,
             LEASE_ABOUT (self, .host_id = owners->owner, .message_id = VML_MSGID_LEASE_SEIZING),
             "Seizing the lease: asked host %" G_GUINT64_FORMAT " to give it up",
             owners->owner);
  data->requested = TRUE;
  data->requested_at = g_get_monotonic_time ();
  return TRUE;

failed:
  g_clear_error (error);
  g_propagate_prefixed_error (error, local_error, "cannot seize the lease: ");
  return FALSE;
}

/* Acquire with request: tell the exclusive owner's host (a sanlock host
 * message keyed by the lease's UUID) that this host wants the lease; it
 * emits TransferRequested and keeps it. @error, the Busy that brought us
 * here, gets a note of what was done. */
static gboolean
ask_owner (VmlLease *self, GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = NULL;
  g_autoptr(GError) local_error = NULL;

  owners = lease_sanlock_read_owners (self->sanlock, NULL);
  if (owners == NULL || owners->owner == 0)
    return FALSE;
  if (!lease_sanlock_send_message (self->sanlock, owners->owner, owners->owner_generation,
                                   vml_lease_get_message_key (self), owners->lver + 1,
                                   &local_error))
    {
      g_prefix_error (error, "(could not ask host %" G_GUINT64_FORMAT " to hand it over: %s) ",
                      owners->owner, local_error->message);
      return FALSE;
    }
  g_prefix_error (error, "asked host %" G_GUINT64_FORMAT " to hand the lease over "
                  "(TransferRequested there); until it does: ", owners->owner);
  vml_log (G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .host_id = owners->owner, .message_id = VML_MSGID_LEASE_ASKED),
           "Asked host %" G_GUINT64_FORMAT " to hand the lease over", owners->owner);
  return TRUE;
}

/* The disks of an Acquire are taken while the VM lease is (each costs a
 * paxos ballot on storage, ~12 ms with io_timeout 1; one after the other
 * they cost the sum, side by side the longest), all or nothing. */
typedef struct {
  VmlLease    *self;
  AcquireData *data;
  gboolean     ok;
  GError      *error;
} DiskTake;

static gpointer
take_disks_thread (gpointer user_data)
{
  DiskTake *take = user_data;
  AcquireData *data = take->data;

  take->ok = lease_disks_take (take->self, NULL, data->disks, data->disk_holders, data->fence,
                               data->fence_pid, data->fence_qmp, &take->error);
  return NULL;
}

/* The VM lease and its disks at once; TRUE if both were had. Otherwise
 * neither is held, and @error says why: the VM lease's error first (a
 * Busy there may seize or ask its owner), else the disks' (*disks_busy). */
static gboolean
acquire_unit (VmlLease *self, AcquireData *data, GCancellable *cancellable,
              gboolean *caller_left, gboolean *disks_busy, GError **error)
{
  DiskTake take = { .self = self, .data = data, .ok = TRUE };
  GThread *disks = NULL;
  gboolean ok;

  *disks_busy = FALSE;
  if (data->disks != NULL)
    disks = g_thread_new ("vml-acquire-disks", take_disks_thread, &take);
  ok = lease_sanlock_acquire_attempt (self->sanlock, data->holder, data->mode == VML_MODE_SHARED,
                                      cancellable, &data->lver, caller_left, error);
  if (disks != NULL)
    g_thread_join (disks);
  if (ok && take.ok)
    return TRUE;
  if (ok)
    {
      lease_sanlock_release (self->sanlock, data->holder, NULL);
      *disks_busy = TRUE;
      g_propagate_error (error, g_steal_pointer (&take.error));
      return FALSE;
    }
  if (disks != NULL && take.ok)
    lease_disks_untake (self, data->disks, data->disk_holders);
  g_clear_error (&take.error);
  return FALSE;
}

static void
acquire_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  AcquireData *data = task_data;
  GError *error = NULL;
  gboolean ok, busy, caller_left, disks_busy;

  /* Its caller left the bus (while it waited, or before it started): the
   * lease is not taken for nobody. */
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_task_return_error (task, lease_caller_left_error ());
      return;
    }
  if (!data->claimed &&
      !vml_holder_claim (data->holder, self->uuid, data->fence, data->fence_pid,
                         data->fence_qmp, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  data->claimed = TRUE;
  /* A lease in a hand-off elsewhere takes no third sharer (sanlock would
   * allow one): look before, and again after, in case it began meanwhile. */
  if (data->mode == VML_MODE_SHARED && lease_sanlock_marked_elsewhere (self->sanlock, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  /* The disks, all or nothing with the VM lease: one that cannot be taken
   * lets the VM lease go again (a Busy then retries as the lease's would;
   * force seizes the disks of this VM lease too, below). */
  ok = acquire_unit (self, data, cancellable, &caller_left, &disks_busy, &error);
  if (caller_left)
    {
      g_clear_error (&error);
      error = lease_caller_left_error ();
    }

  /* Busy: seize or ask as told, then try again until the wait is over.
   * A seize that cannot go on returns its own error; otherwise @error stays
   * the Busy (asking only adds a note to it). */
  busy = !ok && g_error_matches (error, VML_ERROR, VML_ERROR_BUSY);
  /* (The VM lease had this time, only its disks busy: nothing to ask of
   * the VM lease's owner any more.) */
  if (busy && data->force && !disks_busy && seize_request_due (self, data) &&
      !request_release (self, data, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  /* The VM's disks go with it: the owner's disk holders keep them when its
   * vmleased is down (nobody there ends the unit), so each disk held
   * exclusively for this same VM lease is asked for too, once the VM lease
   * was had and its disks were still busy for 4 × io_timeout: a running
   * vmleased there ends its unit by itself within that, with one Lost
   * ("revoked"), rather than several holders revoked at once. */
  if (busy && data->force && disks_busy)
    {
      gint64 now = g_get_monotonic_time ();

      if (data->disks_requested_at == 0)
        data->disks_requested_at = now;
      else if (now - data->disks_requested_at >=
               4 * (gint64) vml_lockspace_get_io_timeout (self->lockspace) * G_USEC_PER_SEC)
        {
          lease_disks_seize (self, data->disks);
          data->disks_requested_at = now;
        }
    }
  if (busy && data->ask && !data->requested)
    data->requested = ask_owner (self, &error);
  if (busy && g_get_monotonic_time () < data->deadline)
    {
      g_clear_error (&error);
      data->retry = TRUE;
      ok = TRUE;
    }
  if (!ok)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
acquire_succeeded (VmlLease *self, AcquireData *data)
{
  g_clear_object (&self->acquiring_holder);
  self->acquire_wait_deadline = 0;
  lease_adopt_holder (self, g_steal_pointer (&data->holder));
  self->mode = data->mode;
  self->fence = data->fence;
  g_free (self->fence_qmp);
  self->fence_qmp = g_steal_pointer (&data->fence_qmp);
  lease_take_fence_target (self, data->fence_pid, &data->target);
  self->owner_uid = data->uid;
  self->lver = data->lver;
  for (guint i = 0; data->disks != NULL && i < data->disks->len; i++)
    g_ptr_array_add (self->disks, g_steal_pointer (&data->disks->pdata[i]));
  for (guint i = 0; data->disk_holders != NULL && i < data->disk_holders->len; i++)
    {
      g_ptr_array_add (self->disk_holders, g_object_ref (data->disk_holders->pdata[i]));
      lease_adopt_disk_holder (self, data->disk_holders->pdata[i]);
    }
  lease_disks_publish (self);
  lease_set_state (self, data->mode == VML_MODE_SHARED ? LEASE_HELD_SHARED : LEASE_HELD);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  lease_storage_warn_if_failing (self);
  vml_log (G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .holder_pid = (int) vml_holder_get_pid (self->holder),
                        .caller_uid = self->owner_uid, .has_caller = TRUE,
                        .message_id = VML_MSGID_LEASE_ACQUIRED),
           "Lease acquired (%s, version %" G_GUINT64_FORMAT ", holder %d, uid %u)",
           vml_mode_to_string (self->mode), self->lver,
           (int) vml_holder_get_pid (self->holder), self->owner_uid);
}

static void
on_acquire_attempt (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  AcquireData *data = g_task_get_task_data (op);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      /* Asked before the error goes to the caller (and may be freed). */
      gboolean gone = lease_is_gone_from_storage (self, error);

      if (data->wait_s > 0 && error->domain == VML_ERROR && error->code == VML_ERROR_BUSY)
        g_prefix_error (&error, "still busy after waiting %u s: ", data->wait_s);
      acquire_failed (self, op, error);
      if (gone)
        lease_vanish (self);
      return;
    }
  if (data->retry)
    {
      data->retry = FALSE;
      lease_op_again_after (op, ACQUIRE_RETRY_MS, run_acquire_attempt);
      return;
    }
  acquire_succeeded (self, data);
  lease_finish_op (self, NULL, NULL);
}

static void
run_acquire_attempt (VmlLease *self, GTask *op)
{
  lease_op_work_in_thread (self, op, acquire_thread, on_acquire_attempt);
}

/* The holder is known before sanlock is asked: record it first, so that a
 * vmleased that dies during the acquire finds it again at its restart. */
static void
acquire_with_holder (VmlLease *self, GTask *op)
{
  AcquireData *data = g_task_get_task_data (op);

  g_set_object (&self->acquiring_holder, data->holder);
  lease_save_or_warn (self);
  run_acquire_attempt (self, op);
}

static void
spawn_holder_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  GError *error = NULL;
  VmlHolder *holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                        VML_HOLDER_FOR_LEASE, &error);

  if (holder == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, holder, g_object_unref);
}

static void
on_holder_spawned (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  AcquireData *data = g_task_get_task_data (op);
  GError *error = NULL;

  data->holder = g_task_propagate_pointer (G_TASK (result), &error);
  if (data->holder == NULL)
    {
      g_prefix_error (&error, "cannot acquire the lease of %s: ", self->uuid);
      acquire_failed (self, op, error);
    }
  else
    acquire_with_holder (self, op);
}

static void start_acquire (VmlLease *self, GTask *op);

static void
on_disks_located (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  AcquireData *data = g_task_get_task_data (op);
  GError *error = NULL;

  data->disks = lease_disks_locate_finish (self, result, &error);
  if (data->disks == NULL)
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  data->disk_holders = g_ptr_array_new_with_free_func (g_object_unref);
  start_acquire (self, op);
}

static void
start_acquire (VmlLease *self, GTask *op)
{
  AcquireData *data = g_task_get_task_data (op);
  g_autoptr(GTask) spawn = NULL;
  GError *error = NULL;

  if (self->transfer.role != TRANSFER_NONE)
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_WRONG_STEP,
                                    "the lease of %s is in a hand-off (%s); Transfer cancel "
                                    "it first", self->uuid, lease_state_names[self->state]));
      return;
    }
  if (lease_state_is_held (self->state))
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_EXISTS,
                                    "the lease of %s is already held on this host (%s, acquired "
                                    "by uid %u); Release it first to acquire it again",
                                    self->uuid, vml_mode_to_string (self->mode), self->owner_uid));
      return;
    }
  if (!lease_lockspace_ready (self, &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  if (data->disk_specs != NULL && data->disks == NULL)
    {
      lease_disks_locate (self, data->disk_specs, on_disks_located, op);
      return;
    }
  data->previous = self->state;
  data->deadline = g_get_monotonic_time () + (gint64) data->wait_s * G_USEC_PER_SEC;
  /* From now on, not only from its first retry: DeleteLease and
   * RemoveLockspace answer Busy at once rather than queue behind it. */
  if (data->wait_s > 0)
    {
      self->acquire_wait_uid = data->uid;
      self->acquire_wait_deadline = data->deadline;
    }
  lease_set_state (self, LEASE_ACQUIRING);
  vml_store_drop_notes (self->store, self->uuid);   /* of earlier holds */
  data->holder = vml_holder_pool_take (self->holders);
  if (data->holder != NULL)
    {
      acquire_with_holder (self, op);
      return;
    }
  spawn = g_task_new (self, NULL, on_holder_spawned, op);
  g_task_run_in_thread (spawn, spawn_holder_thread);
}

static const VmlOptionSpec acquire_options[] = {
  { "mode", "s" },
  { "pid", "u" },
  { "fence", "s" },
  { "qmp", "s" },
  { "wait", "u" },
  { "force", "b" },
  { "request", "b" },
  { "disks", "a(ss)" },
  { NULL }
};

/* A seized lease is free once the owner's host noticed the request (at its
 * next renewal) and its holder fenced and exited: allow for that. */
#define FORCE_DEFAULT_WAIT_S 120

static AcquireData *
parse_acquire_options (GVariant *options, guint uid, GError **error)
{
  g_autoptr(AcquireData) data = g_new0 (AcquireData, 1);
  const char *str;

  data->target.pidfd = -1;
  if (!vml_options_check (options, "Acquire", acquire_options, error))
    return NULL;
  data->uid = uid;
  data->mode = VML_MODE_EXCLUSIVE;
  if (g_variant_lookup (options, "mode", "&s", &str) &&
      !vml_mode_from_string (str, &data->mode, error))
    return NULL;
  g_variant_lookup (options, "wait", "u", &data->wait_s);
  if (!vml_check_wait (data->wait_s, "Acquire", error))
    return NULL;
  g_variant_lookup (options, "force", "b", &data->force);
  g_variant_lookup (options, "request", "b", &data->ask);
  if (data->force && data->ask)
    {
      g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                           "choose force (take it) or request (ask for it), not both");
      return NULL;
    }
  if (data->force && data->wait_s == 0)
    data->wait_s = FORCE_DEFAULT_WAIT_S;
  if (data->force && data->mode == VML_MODE_SHARED)
    {
      g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                           "force takes the lease exclusively; it does not go with mode 'shared'");
      return NULL;
    }
  {
    g_autoptr(GVariant) disks = g_variant_lookup_value (options, "disks", G_VARIANT_TYPE ("a(ss)"));

    if (disks != NULL && g_variant_n_children (disks) > 0 &&
        (data->disk_specs = vml_disks_parse (disks, 0, "Acquire", error)) == NULL)
      return NULL;
  }
  if (!vml_fence_options_parse (options, &data->fence, &data->fence_pid, &data->fence_qmp,
                                error) ||
      (data->fence_pid != 0 && !vml_fence_target_open (data->fence_pid, &data->target, error)))
    return NULL;
  return g_steal_pointer (&data);
}

void
lease_acquire_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  GError *error = NULL;
  AcquireData *data;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  data = parse_acquire_options (options, uid, &error);
  if (data != NULL && data->fence_pid != 0 &&
      !lease_fence_target_allowed (self, invocation, uid, &data->target,
                                   lease_acquire_authorized))
    {
      acquire_data_free (data);
      return;
    }
  lease_enqueue_invocation (self, invocation, uid, data, (GDestroyNotify) acquire_data_free,
                            error, start_acquire);
}
