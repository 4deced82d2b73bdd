/* vml-lease.c: see vml-lease.h.
 *
 * Threading: the GObject and its D-Bus skeleton are touched only on the main
 * loop. Worker threads get the lease's immutable facts (uuid, lockspace
 * name, location) and a VmlHolder; everything they learn comes back through
 * the GTask and is applied on the main loop. cmd_lock keeps two sanlock
 * commands for the same holder from overlapping: sanlock does not queue
 * them (it answers -EBUSY). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "vml-error.h"
#include "vml-holder.h"
#include "vml-lease-private.h"
#include "vml-log.h"
#include "vml-options.h"
#include "vml-sanlock.h"

#define ACQUIRE_RETRY_MS     500

const char *const lease_state_names[LEASE_N_STATES] = {
  [LEASE_FREE] = "free",
  [LEASE_ACQUIRING] = "acquiring",
  [LEASE_HELD] = "held",
  [LEASE_HELD_SHARED] = "held-shared",
  [LEASE_RELEASING] = "releasing",
  [LEASE_MIGRATING_OUT] = "migrating-out",
  [LEASE_MIGRATING_IN] = "migrating-in",
  [LEASE_LOST] = "lost",
};

G_DEFINE_TYPE (VmlLease, vml_lease, G_TYPE_OBJECT)

enum { SIGNAL_VANISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

gboolean
lease_state_is_held (LeaseState state)
{
  return state == LEASE_HELD || state == LEASE_HELD_SHARED;
}

gboolean
lease_state_has_holder (LeaseState state)
{
  return lease_state_is_held (state) || state == LEASE_MIGRATING_OUT ||
         state == LEASE_MIGRATING_IN;
}

void
lease_resource_of (VmlLease *self, VmlSanlockResource *res)
{
  res->lockspace = vml_lockspace_get_name (self->lockspace);
  res->name = self->uuid;
  res->path = self->path;
  res->offset = self->offset;
  res->sector_size = vml_lockspace_sector_size_at (self->lockspace, self->path);
}

void
lease_set_state (VmlLease *self, LeaseState state)
{
  self->state = state;
  vml_dbus_lease_set_state (self->iface, lease_state_names[state]);
}

void
lease_publish_holding (VmlLease *self)
{
  gboolean held = lease_state_is_held (self->state);
  /* In a hand-off the holder holds it shared, except on the source after
   * perform, where it holds nothing. */
  gboolean holds = held || self->state == LEASE_MIGRATING_IN ||
                   (self->state == LEASE_MIGRATING_OUT && g_strcmp0 (self->transfer_step, "begin") == 0);
  guint64 host_id = vml_lockspace_get_host_id (self->lockspace);

  vml_dbus_lease_set_mode (self->iface, holds ? vml_mode_to_string (self->mode) : "");
  vml_dbus_lease_set_holder_pid (self->iface, self->holder ? (guint) vml_holder_get_pid (self->holder) : 0);
  vml_dbus_lease_set_fence_pid (self->iface, self->fence_pid);
  vml_dbus_lease_set_fence (self->iface, vml_fence_to_string (self->fence));
  vml_dbus_lease_set_version (self->iface, self->lver);
  if (held)
    vml_dbus_lease_set_owner (self->iface, self->mode == VML_MODE_EXCLUSIVE ? host_id : 0);
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
lease_lockspace_ready (VmlLease *self, GError **error)
{
  if (vml_lockspace_is_joined (self->lockspace))
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_LOCKSPACE_NOT_JOINED,
               "this host has not joined lockspace '%s' (it is %s); "
               "AddLockspace it again first",
               vml_lockspace_get_name (self->lockspace),
               vml_lockspace_state_to_string (vml_lockspace_get_state (self->lockspace)));
  return FALSE;
}

/* sanlock found no lease (of this name) at our location: another host
 * deleted it. Worth saying, and the object should go. */
gboolean
lease_is_gone_from_storage (VmlLease *self, const GError *error)
{
  return error != NULL && g_error_matches (error, VML_ERROR, VML_ERROR_NOT_FOUND) &&
         !lease_state_is_held (self->state);
}

void
lease_vanish (VmlLease *self)
{
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace),
                 NULL, "The lease is no longer on storage (deleted from another host); "
                 "removing its object");
  g_signal_emit (self, signals[SIGNAL_VANISHED], 0);
}

/* Pid-targeted commands on behalf of @holder, one at a time per lease:
 * sanlock does not queue commands for one client (it answers -EBUSY). */
gboolean
lease_holder_convert (VmlLease *self, VmlHolder *holder, gboolean to_shared, GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  lease_resource_of (self, &res);
  g_mutex_lock (&self->cmd_lock);
  ok = vml_sanlock_convert (&res, vml_holder_get_pid (holder), to_shared, error);
  g_mutex_unlock (&self->cmd_lock);
  return ok;
}

gboolean
lease_holder_release (VmlLease *self, VmlHolder *holder, GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  lease_resource_of (self, &res);
  g_mutex_lock (&self->cmd_lock);
  ok = vml_sanlock_release (&res, vml_holder_get_pid (holder), error);
  g_mutex_unlock (&self->cmd_lock);
  return ok;
}

gboolean
lease_holder_acquire (VmlLease *self, VmlHolder *holder, gboolean shared, guint64 lver, guint64 *lver_out,
         GError **error)
{
  VmlSanlockResource res;
  gboolean ok;

  lease_resource_of (self, &res);
  g_mutex_lock (&self->cmd_lock);
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (holder), shared, lver, lver_out, error);
  g_mutex_unlock (&self->cmd_lock);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* The per-lease operation queue                                          */

typedef void (*OpStart) (VmlLease *self, GTask *task);

typedef struct {
  GTask   *task;
  OpStart  start;
} Op;

static gboolean
start_head_op (gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  Op *op = g_queue_peek_head (&self->ops);

  if (op != NULL)
    op->start (self, op->task);
  return G_SOURCE_REMOVE;
}

void
lease_enqueue_op (VmlLease *self, GTask *task, OpStart start)
{
  Op *op = g_new0 (Op, 1);

  op->task = task;
  op->start = start;
  g_queue_push_tail (&self->ops, op);
  if (g_queue_get_length (&self->ops) == 1)
    start_head_op (self);
}

/* Completes the running operation with @reply (floating, may be NULL) or
 * @error (taken), then starts the next one from a fresh main-loop turn. */
void
lease_finish_op (VmlLease *self, GVariant *reply, GError *error)
{
  g_autofree Op *op = g_queue_pop_head (&self->ops);
  g_autoptr(GTask) task = op->task;

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, reply ? g_variant_ref_sink (reply) : NULL,
                           (GDestroyNotify) g_variant_unref);
  if (!g_queue_is_empty (&self->ops))
    g_idle_add_full (G_PRIORITY_DEFAULT, start_head_op, g_object_ref (self), g_object_unref);
}

static void
reply_to_invocation (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_task_propagate_pointer (G_TASK (result), &error);

  if (error != NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, reply ? g_variant_new_tuple (&reply, 1) : NULL);
}

/* For internal callers of an operation that has no reply value. */
gboolean
lease_op_result_ok (GAsyncResult *result, GError **error)
{
  GError *local_error = NULL;
  g_autoptr(GVariant) reply = g_task_propagate_pointer (G_TASK (result), &local_error);

  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

/* An operation whose result answers a D-Bus call. */
GTask *
lease_invocation_task (VmlLease *self, GDBusMethodInvocation *invocation)
{
  return g_task_new (self, NULL, reply_to_invocation, g_object_ref (invocation));
}

/* ---------------------------------------------------------------------- */
/* Holder life                                                            */

static void on_holder_exited (VmlHolder *holder, int status, gpointer user_data);

void
lease_adopt_holder (VmlLease *self, VmlHolder *holder)
{
  g_return_if_fail (self->holder == NULL);

  self->holder = holder;
  g_signal_connect_object (holder, "exited", G_CALLBACK (on_holder_exited), self, 0);
  vml_holder_watch (holder);
}

void
lease_drop_holder (VmlLease *self)
{
  if (self->holder == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->holder, self);
  g_clear_object (&self->holder);
}

/* Keeps a pidfd on the VM process, so the fence can never hit a process
 * that merely got the same pid later. @start_time 0: take it now. */
void
lease_watch_fence_pid (VmlLease *self, guint fence_pid, guint64 start_time)
{
  if (self->fence_pidfd >= 0)
    close (self->fence_pidfd);
  self->fence_pidfd = -1;
  self->fence_pid = fence_pid;
  self->fence_start = 0;
  if (fence_pid == 0)
    return;
  self->fence_pidfd = pidfd_open ((pid_t) fence_pid, 0);
  self->fence_start = vml_process_start_time ((pid_t) fence_pid);
  if (start_time != 0 && start_time != self->fence_start)
    {
      /* The recorded VM process is gone; this pid is someone else's. */
      if (self->fence_pidfd >= 0)
        close (self->fence_pidfd);
      self->fence_pidfd = -1;
      self->fence_start = 0;
    }
}

/* Without a pidfd (kernels before 5.3, valgrind): the pid still names the
 * process that started at @start_time. */
static gboolean
same_process (guint pid, guint64 start_time)
{
  return start_time != 0 && vml_process_start_time ((pid_t) pid) == start_time;
}

/* The lease is gone: the VM must stop writing before anyone else can get
 * it. Kill (SIGKILL) or pause (SIGSTOP) it, as the caller chose. */
static void
apply_fence (VmlLease *self, GVariantDict *details)
{
  int signo = self->fence == VML_FENCE_KILL ? SIGKILL : SIGSTOP;
  const char *error = NULL;

  g_variant_dict_insert (details, "fence", "s", vml_fence_to_string (self->fence));
  if (self->fence == VML_FENCE_NONE || self->fence_pid == 0)
    {
      g_variant_dict_insert (details, "fenced", "b", FALSE);
      return;
    }
  if (self->fence_pidfd >= 0 ? pidfd_send_signal (self->fence_pidfd, signo, NULL, 0) != 0
                             : !same_process (self->fence_pid, self->fence_start) ||
                               kill ((pid_t) self->fence_pid, signo) != 0)
    error = self->fence_pidfd < 0 || errno == ESRCH ? "the VM process had already exited"
                                                    : g_strerror (errno);
  g_variant_dict_insert (details, "fenced", "b", error == NULL);
  if (error != NULL)
    g_variant_dict_insert (details, "fence_error", "s", error);
  vml_log_lease (error ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE, self->uuid,
                 vml_lockspace_get_name (self->lockspace), NULL, "Fence %s of VM process %u: %s",
                 vml_fence_to_string (self->fence), self->fence_pid, error ? error : "done");
}

void
lease_report_lost (VmlLease *self, const char *reason, pid_t holder_pid, const char *why)
{
  GVariantDict details;

  g_variant_dict_init (&details, NULL);
  apply_fence (self, &details);
  g_variant_dict_insert (&details, "holder_pid", "u", (guint) holder_pid);
  g_variant_dict_insert (&details, "fence_pid", "u", self->fence_pid);
  g_variant_dict_insert (&details, "host_id", "t", vml_lockspace_get_host_id (self->lockspace));
  g_variant_dict_insert (&details, "time", "t", (guint64) g_get_real_time ());
  g_variant_dict_insert (&details, "message", "s", why);

  lease_set_state (self, LEASE_LOST);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  vml_log_lease (G_LOG_LEVEL_WARNING, self->uuid, vml_lockspace_get_name (self->lockspace),
                 VML_MSGID_LEASE_LOST, "Lease lost (%s): %s", reason, why);
  vml_dbus_lease_emit_lost (self->iface, reason, g_variant_dict_end (&details));
}

static void
explain_revocation_thread (GTask *task, gpointer source, gpointer task_data,
                           GCancellable *cancellable)
{
  g_task_return_boolean (task, vml_lockspace_failed_here (VML_LEASE (source)->lockspace));
}

static void
on_revocation_explained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  pid_t pid = GPOINTER_TO_INT (user_data);

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    {
      lease_report_lost (self, "lockspace-failed", pid,
                         "this host could not renew its lockspace on storage; sanlock revoked "
                         "the lease and the holder fenced the VM process first");
      vml_lockspace_mark_lost (self->lockspace, "this host could not renew its host lease on "
                               "storage, and sanlock gave the lockspace up");
    }
  else
    lease_report_lost (self, "revoked", pid,
                       "another host took the lease (a forced request); the holder fenced the "
                       "VM process first");
}

/* vmlease-holder's exit status when sanlock revoked its lease (it fenced
 * the VM itself before exiting, so that sanlock could free the lease). */
#define HOLDER_EXIT_REVOKED 4

static void
on_holder_exited (VmlHolder *holder, int status, gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  pid_t pid = vml_holder_get_pid (holder);

  lease_drop_holder (self);
  /* The source after perform holds nothing: a new holder takes it back if
   * the hand-off fails. */
  if (self->transfer_role == TRANSFER_SOURCE && g_strcmp0 (self->transfer_step, "perform") == 0)
    return;
  if (!lease_state_has_holder (self->state) || vml_lease_is_busy (self))
    return; /* an operation in progress notices on its own */
  lease_transfer_clear (self);
  if (status == HOLDER_EXIT_REVOKED)
    {
      /* Revoked: by another host's seize, or because this host could not
       * renew its lockspace on storage? The local sanlock daemon knows. */
      g_autoptr(GTask) task = g_task_new (self, NULL, on_revocation_explained,
                                          GINT_TO_POINTER (pid));
      g_task_run_in_thread (task, explain_revocation_thread);
    }
  else
    lease_report_lost (self, "holder-exited", pid,
                       "the holder process exited without a release; sanlock dropped the lease");
}

/* ---------------------------------------------------------------------- */
/* Acquire                                                                */

typedef struct {
  VmlMode     mode;
  VmlFence    fence;
  guint       fence_pid;
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
} AcquireData;

static void
acquire_data_free (AcquireData *data)
{
  g_clear_object (&data->holder);
  g_free (data);
}

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
  lease_set_state (self, data->previous);
  lease_save_or_warn (self);
  lease_finish_op (self, NULL, error);
}

/* Seizing: ask sanlock to make the exclusive owner's host give the lease
 * up (its holder is told to go at that host's next renewal; it fences its
 * VM first). @error is the Busy that brought us here, replaced on failure. */
static gboolean
request_release (VmlLease *self, GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = NULL;
  VmlSanlockResource res;
  GError *local_error = NULL;

  lease_resource_of (self, &res);
  owners = vml_sanlock_read_owners (&res, &local_error);
  if (owners != NULL && owners->owner == 0)
    {
      g_clear_error (error);
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "the lease of %s is held shared, and force only takes a lease from a host "
                   "holding it exclusively", self->uuid);
      return FALSE;
    }
  if (owners == NULL || !vml_sanlock_request (&res, owners->lver + 1, TRUE, &local_error))
    {
      g_clear_error (error);
      g_propagate_prefixed_error (error, local_error, "cannot seize the lease: ");
      return FALSE;
    }
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace), NULL,
                 "Seizing the lease: asked host %" G_GUINT64_FORMAT " to give it up",
                 owners->owner);
  return TRUE;
}

/* Acquire with request: tell the exclusive owner's host (a sanlock host
 * message keyed by the lease's offset) that this host wants the lease; it
 * emits TransferRequested and keeps it. @error, the Busy that brought us
 * here, gets a note of what was done. */
static gboolean
ask_owner (VmlLease *self, GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = NULL;
  g_autoptr(GError) local_error = NULL;
  VmlSanlockResource res;

  lease_resource_of (self, &res);
  owners = vml_sanlock_read_owners (&res, NULL);
  if (owners == NULL || owners->owner == 0)
    return FALSE;
  if (!vml_sanlock_event_send (res.lockspace, owners->owner, owners->owner_generation,
                               self->offset, owners->lver + 1, &local_error))
    {
      g_prefix_error (error, "(could not ask host %" G_GUINT64_FORMAT " to hand it over: %s) ",
                      owners->owner, local_error->message);
      return FALSE;
    }
  g_prefix_error (error, "asked host %" G_GUINT64_FORMAT " to hand the lease over "
                  "(TransferRequested there); until it does: ", owners->owner);
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace), NULL,
                 "Asked host %" G_GUINT64_FORMAT " to hand the lease over", owners->owner);
  return TRUE;
}

static void
acquire_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  AcquireData *data = task_data;
  VmlSanlockResource res;
  GError *error = NULL;
  gboolean ok;

  if (!data->claimed &&
      !vml_holder_claim (data->holder, self->uuid, data->fence, data->fence_pid, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  data->claimed = TRUE;
  /* A lease in a hand-off elsewhere takes no third sharer (sanlock would
   * allow one): look before, and again after, in case it began meanwhile. */
  if (data->mode == VML_MODE_SHARED && lease_transfer_marked_elsewhere (self, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  lease_resource_of (self, &res);
  g_mutex_lock (&self->cmd_lock);
  ok = vml_sanlock_acquire (&res, vml_holder_get_pid (data->holder),
                            data->mode == VML_MODE_SHARED, 0, &data->lver, &error);
  if (ok && data->mode == VML_MODE_SHARED && lease_transfer_marked_elsewhere (self, &error))
    {
      vml_sanlock_release (&res, vml_holder_get_pid (data->holder), NULL);
      ok = FALSE;
    }
  g_mutex_unlock (&self->cmd_lock);

  if (!ok && g_error_matches (error, VML_ERROR, VML_ERROR_BUSY) && data->force &&
      !data->requested)
    {
      if (!request_release (self, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      data->requested = TRUE;
    }
  if (!ok && g_error_matches (error, VML_ERROR, VML_ERROR_BUSY) && data->ask && !data->requested)
    data->requested = ask_owner (self, &error);
  if (!ok && g_error_matches (error, VML_ERROR, VML_ERROR_BUSY) &&
      g_get_monotonic_time () < data->deadline)
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
  lease_adopt_holder (self, g_steal_pointer (&data->holder));
  self->mode = data->mode;
  self->fence = data->fence;
  lease_watch_fence_pid (self, data->fence_pid, 0);
  self->owner_uid = data->uid;
  self->lver = data->lver;
  lease_set_state (self, data->mode == VML_MODE_SHARED ? LEASE_HELD_SHARED : LEASE_HELD);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace),
                 VML_MSGID_LEASE_ACQUIRED, "Lease acquired (%s, version %" G_GUINT64_FORMAT
                 ", holder %d, uid %u)", vml_mode_to_string (self->mode), self->lver,
                 (int) vml_holder_get_pid (self->holder), self->owner_uid);
}

static gboolean
retry_acquire (gpointer user_data)
{
  GTask *op = G_TASK (user_data);

  run_acquire_attempt (VML_LEASE (g_task_get_source_object (op)), op);
  return G_SOURCE_REMOVE;
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
      g_timeout_add (ACQUIRE_RETRY_MS, retry_acquire, op);
      return;
    }
  acquire_succeeded (self, data);
  lease_finish_op (self, NULL, NULL);
}

static void
run_acquire_attempt (VmlLease *self, GTask *op)
{
  g_autoptr(GTask) attempt = g_task_new (self, NULL, on_acquire_attempt, op);

  g_task_set_task_data (attempt, g_task_get_task_data (op), NULL);
  g_task_run_in_thread (attempt, acquire_thread);
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
  VmlHolder *holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders), &error);

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
    acquire_failed (self, op, error);
  else
    acquire_with_holder (self, op);
}

static void
start_acquire (VmlLease *self, GTask *op)
{
  AcquireData *data = g_task_get_task_data (op);
  g_autoptr(GTask) spawn = NULL;
  GError *error = NULL;

  if (self->transfer_role != TRANSFER_NONE)
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
  data->previous = self->state;
  data->deadline = g_get_monotonic_time () + (gint64) data->wait_s * G_USEC_PER_SEC;
  lease_set_state (self, LEASE_ACQUIRING);
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
  { "wait", "u" },
  { "force", "b" },
  { "request", "b" },
  { NULL }
};

/* A seized lease is free once the owner's host noticed the request (at its
 * next renewal) and its holder fenced and exited: allow for that. */
#define FORCE_DEFAULT_WAIT_S 120

static AcquireData *
parse_acquire_options (GVariant *options, guint uid, GError **error)
{
  g_autofree AcquireData *data = g_new0 (AcquireData, 1);
  const char *str;

  if (!vml_options_check (options, "Acquire", acquire_options, error))
    return NULL;
  data->uid = uid;
  data->mode = VML_MODE_EXCLUSIVE;
  if (g_variant_lookup (options, "mode", "&s", &str) &&
      !vml_mode_from_string (str, &data->mode, error))
    return NULL;
  g_variant_lookup (options, "pid", "u", &data->fence_pid);
  g_variant_lookup (options, "wait", "u", &data->wait_s);
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
  data->fence = data->fence_pid ? VML_FENCE_KILL : VML_FENCE_NONE;
  if (g_variant_lookup (options, "fence", "&s", &str) &&
      !vml_fence_from_string (str, &data->fence, error))
    return NULL;
  if (data->fence != VML_FENCE_NONE && data->fence_pid == 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "fence '%s' needs the VM's process id in option 'pid'",
                   vml_fence_to_string (data->fence));
      return NULL;
    }
  if (data->fence_pid != 0 && kill ((pid_t) data->fence_pid, 0) != 0 && errno == ESRCH)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "pid %u names no running process", data->fence_pid);
      return NULL;
    }
  return g_steal_pointer (&data);
}

static void
acquire_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  GError *error = NULL;
  AcquireData *data;
  GTask *op;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  data = parse_acquire_options (options, uid, &error);
  if (data == NULL)
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  op = lease_invocation_task (self, invocation);
  g_task_set_task_data (op, data, (GDestroyNotify) acquire_data_free);
  lease_enqueue_op (self, op, start_acquire);
}

/* ---------------------------------------------------------------------- */
/* Release                                                                */

static void
release_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  VmlHolder *holder = task_data;
  GError *error = NULL;
  gboolean ok = lease_holder_release (self, holder, &error);

  /* A holder that died meanwhile took the lease with it: released anyway. */
  if (!ok && vml_holder_is_alive (holder))
    {
      g_task_return_error (task, error);
      return;
    }
  g_clear_error (&error);
  g_task_return_boolean (task, TRUE);
}

/* A release asked for by a caller (lost_reason NULL), or forced on the
 * lease by removing its lockspace (then it is reported lost and fenced). */
typedef struct {
  LeaseState  previous;
  const char *lost_reason;
} ReleaseData;

static void
on_released (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  g_autofree ReleaseData *data = user_data;
  VmlHolder *holder = g_task_get_task_data (G_TASK (result));   /* self->holder may be gone */
  pid_t holder_pid = vml_holder_get_pid (holder);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      /* Back to held, unless the holder died meanwhile (then it is lost). */
      lease_set_state (self, self->holder ? data->previous : LEASE_LOST);
      lease_finish_op (self, NULL, error);
      return;
    }
  /* Releasing ends the holder: one process per held lease, never reused
   * for another lease. It holds nothing now, so it need not be waited for. */
  vml_holder_terminate (holder);
  lease_drop_holder (self);
  vml_dbus_lease_set_owner (self->iface, 0);
  if (data->lost_reason != NULL)
    {
      lease_report_lost (self, data->lost_reason, holder_pid,
                   "its lockspace was removed from this host with force");
      lease_finish_op (self, NULL, NULL);
      return;
    }
  lease_watch_fence_pid (self, 0, 0);
  self->fence = VML_FENCE_NONE;
  lease_set_state (self, LEASE_FREE);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace),
                 VML_MSGID_LEASE_RELEASED, "Lease released");
  lease_finish_op (self, NULL, NULL);
}

static void
start_release (VmlLease *self, GTask *op)
{
  g_autoptr(GTask) task = NULL;
  ReleaseData *data;

  if (self->transfer_role != TRANSFER_NONE)
    {
      lease_finish_op (self, NULL,
                       g_error_new (VML_ERROR, VML_ERROR_WRONG_STEP,
                                    "the lease of %s is in a hand-off (%s); Transfer cancel "
                                    "it (or finish it) first", self->uuid,
                                    lease_state_names[self->state]));
      return;
    }
  if (!lease_state_is_held (self->state) || self->holder == NULL)
    {
      lease_finish_op (self, NULL,
                 g_error_new (VML_ERROR, VML_ERROR_NOT_HELD,
                              "the lease of %s is not held on this host (it is %s)",
                              self->uuid, lease_state_names[self->state]));
      return;
    }
  data = g_new0 (ReleaseData, 1);
  data->previous = self->state;
  data->lost_reason = g_task_get_task_data (op);
  task = g_task_new (self, NULL, on_released, data);
  g_task_set_task_data (task, g_object_ref (self->holder), g_object_unref);
  lease_set_state (self, LEASE_RELEASING);
  g_task_run_in_thread (task, release_thread);
}

static const VmlOptionSpec no_options[] = { { NULL } };

static void
release_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  GError *error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (!vml_options_check (options, "Release", no_options, &error))
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  lease_enqueue_op (self, lease_invocation_task (self, invocation), start_release);
}

void
vml_lease_drop_async (VmlLease *self, const char *reason, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  GTask *op = g_task_new (self, NULL, callback, user_data);

  g_task_set_task_data (op, (gpointer) reason, NULL);
  lease_enqueue_op (self, op, start_release);
}

gboolean
vml_lease_drop_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return lease_op_result_ok (result, error);
}

/* ---------------------------------------------------------------------- */
/* Delete                                                                 */

static char *
describe_owners (VmlSanlockOwners *owners)
{
  g_autoptr(GString) text = g_string_new (NULL);

  if (owners->owner != 0)
    g_string_append_printf (text, "held exclusively by host %" G_GUINT64_FORMAT, owners->owner);
  for (guint i = 0; i < owners->shared_owners->len; i++)
    g_string_append_printf (text, "%s%" G_GUINT64_FORMAT,
                            i ? ", " : text->len ? "; held shared by hosts " : "held shared by hosts ",
                            g_array_index (owners->shared_owners, guint64, i));
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static gboolean
delete_from_index_locked (VmlLockspace *ls, gpointer user_data, GError **error)
{
  VmlLease *self = VML_LEASE (user_data);
  VmlSanlockLockspace spec;

  vml_lockspace_get_spec (ls, &spec);
  return vml_sanlock_index_delete (&spec, self->uuid, self->offset, error);
}

static void
delete_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  g_autoptr(VmlSanlockOwners) owners = NULL;
  VmlSanlockResource res;
  GError *error = NULL;
  gboolean ok;

  lease_resource_of (self, &res);
  owners = vml_sanlock_read_owners (&res, &error);
  if (owners == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (owners->owners_live && (owners->owner != 0 || owners->shared_owners->len > 0))
    {
      g_autofree char *who = describe_owners (owners);
      g_task_return_new_error (task, VML_ERROR, VML_ERROR_BUSY,
                               "the lease of %s is %s; it can only be deleted once no "
                               "host holds it", self->uuid, who);
      return;
    }
  if (self->indexed)
    ok = vml_lockspace_run_locked_index (self->lockspace,
                                         vml_holder_pool_get_holder_path (self->holders),
                                         delete_from_index_locked, self, &error);
  else
    ok = vml_sanlock_resource_clear (&res, &error);
  if (!ok)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_deleted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace),
                 NULL, "Lease deleted from storage");
  lease_finish_op (self, NULL, NULL);
}

static void
start_delete (VmlLease *self, GTask *op)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  if (self->state != LEASE_FREE && self->state != LEASE_LOST)
    {
      lease_finish_op (self, NULL,
                 g_error_new (VML_ERROR, VML_ERROR_BUSY,
                              "the lease of %s is %s on this host; Release it before "
                              "deleting it", self->uuid, lease_state_names[self->state]));
      return;
    }
  if (!lease_lockspace_ready (self, &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  task = g_task_new (self, NULL, on_deleted, NULL);
  g_task_run_in_thread (task, delete_thread);
}

void
vml_lease_delete_async (VmlLease *self, GAsyncReadyCallback callback, gpointer user_data)
{
  lease_enqueue_op (self, g_task_new (self, NULL, callback, user_data), start_delete);
}

gboolean
vml_lease_delete_finish (VmlLease *self, GAsyncResult *result, GError **error)
{
  return lease_op_result_ok (result, error);
}

/* ---------------------------------------------------------------------- */
/* D-Bus dispatch: every method of the interface takes one a{sv}; each   */
/* goes through the authority before its handler runs.                    */

static const struct {
  const char        *member;
  const char        *signal;    /* gdbus-codegen's handler signal */
  VmlAuthorizedFunc  handler;
} lease_methods[] = {
  { "Acquire", "handle-acquire", acquire_authorized },
  { "Release", "handle-release", release_authorized },
  { "Inquire", "handle-inquire", lease_inquire_authorized },
};

static gboolean
handle_method (VmlDbusLease          *iface,
               GDBusMethodInvocation *invocation,
               GVariant              *options,
               gpointer               user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  const char *member = g_dbus_method_invocation_get_method_name (invocation);
  gboolean force = FALSE;
  VmlAuthTarget target = {
    .owner_uid = lease_state_is_held (self->state) ? self->owner_uid : VML_UID_NONE,
    .vm_uuid = self->uuid,
    .vm_name = self->name,
    .lockspace = vml_lockspace_get_name (self->lockspace),
  };

  /* Acquire with force takes the lease from another host: polkit's .seize
   * decides that, before the options are looked at any further. */
  if (g_str_equal (member, "Acquire") && g_variant_lookup (options, "force", "b", &force))
    target.seize = force;
  for (guint i = 0; i < G_N_ELEMENTS (lease_methods); i++)
    if (g_str_equal (lease_methods[i].member, member))
      {
        vml_authority_run_authorized (self->authority, invocation, G_OBJECT (self), &target,
                                      lease_methods[i].handler);
        return TRUE;
      }
  return FALSE;
}

static gboolean
handle_transfer (VmlDbusLease          *iface,
                 GDBusMethodInvocation *invocation,
                 const char            *step,
                 const char            *token,
                 GVariant              *options,
                 gpointer               user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  VmlAuthTarget target = {
    .owner_uid = lease_state_has_holder (self->state) ? self->owner_uid : VML_UID_NONE,
    .vm_uuid = self->uuid,
    .vm_name = self->name,
    .lockspace = vml_lockspace_get_name (self->lockspace),
  };

  vml_authority_run_authorized (self->authority, invocation, G_OBJECT (self), &target,
                                lease_transfer_authorized);
  return TRUE;
}

/* ---------------------------------------------------------------------- */

static void
vml_lease_dispose (GObject *object)
{
  VmlLease *self = VML_LEASE (object);

  lease_drop_holder (self);
  g_clear_object (&self->iface);
  g_clear_object (&self->object);
  g_clear_object (&self->lockspace);
  g_clear_object (&self->authority);
  g_clear_object (&self->store);
  g_clear_object (&self->holders);
  g_clear_object (&self->acquiring_holder);
  G_OBJECT_CLASS (vml_lease_parent_class)->dispose (object);
}

static void
vml_lease_finalize (GObject *object)
{
  VmlLease *self = VML_LEASE (object);

  g_warn_if_fail (g_queue_is_empty (&self->ops));
  g_free (self->uuid);
  g_free (self->name);
  g_free (self->path);
  g_free (self->object_path);
  g_free (self->transfer_id);
  g_free (self->transfer_step);
  g_free (self->transfer_waiting);
  g_free (self->committed_transfer);
  g_mutex_clear (&self->cmd_lock);
  if (self->fence_pidfd >= 0)
    close (self->fence_pidfd);
  G_OBJECT_CLASS (vml_lease_parent_class)->finalize (object);
}

static void
vml_lease_class_init (VmlLeaseClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vml_lease_dispose;
  object_class->finalize = vml_lease_finalize;

  /* "vanished": the lease is no longer on storage (deleted from another
   * host) and not held here; its object should go. */
  signals[SIGNAL_VANISHED] = g_signal_new ("vanished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 0);
}

static void
vml_lease_init (VmlLease *self)
{
  g_mutex_init (&self->cmd_lock);
  g_queue_init (&self->ops);
  self->fence_pidfd = -1;
}

VmlLease *
vml_lease_new (const VmlLeaseContext *ctx,
               const char            *uuid,
               const char            *name,
               VmlLockspace          *lockspace,
               const char            *path,
               guint64                offset,
               gboolean               indexed)
{
  VmlLease *self = g_object_new (VML_TYPE_LEASE, NULL);
  static const char *const no_disks[] = { NULL };

  self->authority = g_object_ref (ctx->authority);
  self->store = g_object_ref (ctx->store);
  self->holders = g_object_ref (ctx->holders);
  self->uuid = g_ascii_strdown (uuid, -1);
  self->name = g_strdup (name);
  self->lockspace = g_object_ref (lockspace);
  self->path = g_strdup (path);
  self->offset = offset;
  self->indexed = indexed;
  self->object_path = vml_lease_object_path (self->uuid);

  self->iface = vml_dbus_lease_skeleton_new ();
  vml_dbus_lease_set_uuid (self->iface, self->uuid);
  vml_dbus_lease_set_name (self->iface, self->name);
  vml_dbus_lease_set_lockspace (self->iface, vml_lockspace_get_name (lockspace));
  vml_dbus_lease_set_transfer_step (self->iface, "");
  vml_dbus_lease_set_disks (self->iface, no_disks);
  lease_set_state (self, LEASE_FREE);
  lease_publish_holding (self);
  lease_storage_follow (self);
  for (guint i = 0; i < G_N_ELEMENTS (lease_methods); i++)
    g_signal_connect_object (self->iface, lease_methods[i].signal,
                             G_CALLBACK (handle_method), self, 0);
  g_signal_connect_object (self->iface, "handle-transfer", G_CALLBACK (handle_transfer), self, 0);
  self->object = vml_dbus_object_skeleton_new (self->object_path);
  vml_dbus_object_skeleton_set_lease (self->object, self->iface);
  return self;
}

void
vml_lease_transfer_requested (VmlLease *self, guint64 from_host, guint64 from_generation,
                              guint64 lver)
{
  GVariantDict details;
  gint64 now = g_get_monotonic_time ();

  if (self->state != LEASE_HELD)
    return;   /* asked of whoever held it then; not us any more */
  /* sanlock delivers a message two or three times: say it once. */
  if (from_host == self->requested_by && lver == self->requested_lver &&
      now - self->requested_at < 60 * G_USEC_PER_SEC)
    return;
  self->requested_by = from_host;
  self->requested_lver = lver;
  self->requested_at = now;
  g_variant_dict_init (&details, NULL);
  g_variant_dict_insert (&details, "generation", "t", from_generation);
  g_variant_dict_insert (&details, "lver", "t", lver);
  g_variant_dict_insert (&details, "time", "t", (guint64) g_get_real_time ());
  vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace), NULL,
                 "Host %" G_GUINT64_FORMAT " asks for the lease", from_host);
  vml_dbus_lease_emit_transfer_requested (self->iface, from_host, g_variant_dict_end (&details));
}

guint64 vml_lease_get_offset (VmlLease *self) { return self->offset; }
const char *vml_lease_get_uuid (VmlLease *self) { return self->uuid; }
VmlLockspace *vml_lease_get_lockspace (VmlLease *self) { return self->lockspace; }
GDBusObjectSkeleton *vml_lease_get_object (VmlLease *self) { return G_DBUS_OBJECT_SKELETON (self->object); }
const char *vml_lease_get_object_path (VmlLease *self) { return self->object_path; }
gboolean vml_lease_is_held (VmlLease *self) { return lease_state_is_held (self->state); }
gboolean vml_lease_is_busy (VmlLease *self) { return !g_queue_is_empty (&self->ops); }
