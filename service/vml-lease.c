/* vml-lease.c: see vml-lease.h. Here: the lease's state, its holder's
 * sanlock commands, the per-lease operation queue, the holder's life and
 * the loss it reports, Delete, and the D-Bus dispatch. Beside it:
 * vml-lease-acquire.c, vml-lease-release.c, vml-lease-inquire.c,
 * vml-lease-transfer.c and vml-lease-handoff.c (the other operations),
 * vml-lease-record.c (the record on disk) and vml-lease-storage.c
 * (StorageState).
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
  /* Only writing a fresh area (clear) needs it; every other call finds the
   * lease's own on storage, and this runs on every sanlock call. */
  res->sector_size = 0;
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
                   (self->state == LEASE_MIGRATING_OUT &&
                    g_strcmp0 (self->transfer_step, "begin") == 0);
  guint64 host_id = vml_lockspace_get_host_id (self->lockspace);

  vml_dbus_lease_set_mode (self->iface, holds ? vml_mode_to_string (self->mode) : "");
  vml_dbus_lease_set_holder_pid (self->iface,
                                 self->holder ? (guint) vml_holder_get_pid (self->holder) : 0);
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
lease_holder_acquire (VmlLease *self, VmlHolder *holder, gboolean shared, guint64 lver,
                      guint64 *lver_out, GError **error)
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

typedef struct {
  GTask   *task;
  OpStart  start;
} Op;

/* Who a call was authorized for: its caller, and the lease's owner then.
 * Kept on the call's invocation from the dispatch to the queue. */
typedef struct {
  guint uid;
  guint owner;   /* VML_UID_NONE: nobody's */
} CallerCheck;

static GQuark authorized_owner_quark (void);
static GQuark caller_check_quark (void);
static GQuark fence_target_asked_quark (void);
G_DEFINE_QUARK (vml-lease-authorized-owner, authorized_owner)
G_DEFINE_QUARK (vml-lease-caller-check, caller_check)

static void
remember_authorized_owner (GDBusMethodInvocation *invocation, guint owner)
{
  g_object_set_qdata_full (G_OBJECT (invocation), authorized_owner_quark (),
                           g_memdup2 (&owner, sizeof owner), g_free);
}

/* polkit decided on the owner the lease had when the call came; by the
 * time the call's turn comes in the queue another uid may have acquired
 * it (a waiting Acquire ahead of it succeeded). Acting on that uid's lease
 * needs .manage, which was not asked: refuse, and let the caller call
 * again, when polkit is asked about the owner as it is then. */
static gboolean
caller_may_still_act (VmlLease *self, GTask *op, GError **error)
{
  CallerCheck *check = g_object_get_qdata (G_OBJECT (op), caller_check_quark ());
  guint owner = lease_state_has_holder (self->state) ? self->owner_uid : VML_UID_NONE;

  if (check == NULL || owner == VML_UID_NONE || owner == check->uid || owner == check->owner)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_NOT_AUTHORIZED,
               "the lease of %s was acquired by uid %u after this call of uid %u was "
               "authorized; another uid's lease needs its own authorization (action "
               "org.example.vmlease.manage): call again to be asked for it",
               self->uuid, owner, check->uid);
  return FALSE;
}

/* An operation whose caller left the bus while it was queued is never
 * started: there is nobody to do it for. */
static gboolean
start_head_op (gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  Op *op = g_queue_peek_head (&self->ops);
  GCancellable *cancellable = op ? g_task_get_cancellable (op->task) : NULL;
  GError *error = NULL;

  if (op == NULL)
    return G_SOURCE_REMOVE;
  if (g_cancellable_is_cancelled (cancellable))
    {
      vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace),
                     NULL, "An operation queued for the lease was not started: its caller "
                     "left the bus");
      lease_finish_op (self, NULL, lease_caller_left_error ());
      return G_SOURCE_REMOVE;
    }
  if (!caller_may_still_act (self, op->task, &error))
    lease_finish_op (self, NULL, error);
  else
    op->start (self, op->task);
  return G_SOURCE_REMOVE;
}

GError *
lease_caller_left_error (void)
{
  return g_error_new_literal (VML_ERROR, VML_ERROR_FAILED, "the caller left the bus");
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
    g_dbus_method_invocation_return_value (invocation,
                                           reply ? g_variant_new_tuple (&reply, 1) : NULL);
}

typedef struct {
  GTask   *op;
  OpStart  again;
} Later;

static gboolean
run_later (gpointer user_data)
{
  g_autofree Later *later = user_data;

  later->again (VML_LEASE (g_task_get_source_object (later->op)), later->op);
  return G_SOURCE_REMOVE;
}

void
lease_op_again_after (GTask *op, guint ms, OpStart again)
{
  Later *later = g_new0 (Later, 1);

  later->op = op;
  later->again = again;
  g_timeout_add (ms, run_later, later);
}

void
lease_op_work_in_thread (VmlLease *self, GTask *op, GTaskThreadFunc func,
                         GAsyncReadyCallback done)
{
  g_autoptr(GTask) work = g_task_new (self, g_task_get_cancellable (op), done, op);

  /* The thread decides what a cancellation (its caller left) means: it may
   * hold something already, and must let it go first. */
  g_task_set_check_cancellable (work, FALSE);
  g_task_set_task_data (work, g_task_get_task_data (op), NULL);
  g_task_run_in_thread (work, func);
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

/* An operation whose result answers a D-Bus call of @uid.
 * Cancellable: cancelled when the caller leaves the bus. Its result is
 * still what the operation says (a started operation runs to its end,
 * unless it decides otherwise, as a waiting Acquire does). */
GTask *
lease_invocation_task (VmlLease *self, GDBusMethodInvocation *invocation, guint uid)
{
  GTask *task = g_task_new (self, vml_authority_call_cancellable (invocation),
                            reply_to_invocation, g_object_ref (invocation));
  guint *owner = g_object_get_qdata (G_OBJECT (invocation), authorized_owner_quark ());

  g_task_set_check_cancellable (task, FALSE);
  if (owner != NULL)
    {
      CallerCheck *check = g_new0 (CallerCheck, 1);

      check->uid = uid;
      check->owner = *owner;
      g_object_set_qdata_full (G_OBJECT (task), caller_check_quark (), check, g_free);
    }
  return task;
}

/* Queues the operation a D-Bus call asks for, with its parsed arguments
 * @data (freed with @free_data); a call whose arguments did not parse
 * (@data NULL) is answered with @error at once. */
void
lease_enqueue_invocation (VmlLease *self, GDBusMethodInvocation *invocation, guint uid,
                          gpointer data, GDestroyNotify free_data, GError *error, OpStart start)
{
  GTask *op;

  if (data == NULL)
    {
      g_dbus_method_invocation_take_error (invocation, error);
      return;
    }
  op = lease_invocation_task (self, invocation, uid);
  g_task_set_task_data (op, data, free_data);
  lease_enqueue_op (self, op, start);
}

/* ---------------------------------------------------------------------- */
/* Holder life                                                            */

static void on_holder_exited (VmlHolder *holder, int status, gpointer user_data);

typedef struct {
  VmlLease  *lease;
  VmlHolder *holder;
} LateExit;

static gboolean
report_late_exit (gpointer user_data)
{
  g_autofree LateExit *late = user_data;
  g_autoptr(VmlLease) self = late->lease;
  g_autoptr(VmlHolder) holder = late->holder;
  int status = -1;

  if (self->holder == holder && vml_holder_has_exited (holder, &status))
    on_holder_exited (holder, status, self);
  return G_SOURCE_REMOVE;
}

void
lease_adopt_holder (VmlLease *self, VmlHolder *holder)
{
  LateExit *late;

  g_return_if_fail (self->holder == NULL);

  self->holder = holder;
  g_signal_connect_object (holder, "exited", G_CALLBACK (on_holder_exited), self, 0);
  vml_holder_watch (holder);
  if (!vml_holder_has_exited (holder, NULL))
    return;
  /* It ended while nobody listened (a spare that died in the pool, a
   * holder that died before its operation was done): "exited" will not
   * come again. From the main loop's next turn, so that the caller has set
   * the state this loss then replaces. */
  late = g_new0 (LateExit, 1);
  late->lease = g_object_ref (self);
  late->holder = g_object_ref (holder);
  g_idle_add (report_late_exit, late);
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

void
lease_take_fence_target (VmlLease *self, guint fence_pid, VmlFenceTarget *target)
{
  if (fence_pid == 0 || target->pidfd < 0)
    {
      lease_watch_fence_pid (self, fence_pid, 0);
      return;
    }
  lease_watch_fence_pid (self, 0, 0);
  self->fence_pid = fence_pid;
  self->fence_pidfd = target->pidfd;
  target->pidfd = -1;
  self->fence_start = vml_process_start_time ((pid_t) fence_pid);
}

G_DEFINE_QUARK (vml-lease-fence-target-asked, fence_target_asked)

gboolean
lease_fence_target_allowed (VmlLease *self, GDBusMethodInvocation *invocation, guint uid,
                            const VmlFenceTarget *target, VmlAuthorizedFunc again)
{
  VmlAuthTarget auth = {
    .owner_uid = VML_UID_NONE,
    .fence_others = TRUE,
    .fence_uid = target->real_uid,
    .vm_uuid = self->uuid,
    .vm_name = self->name,
    .lockspace = vml_lockspace_get_name (self->lockspace),
  };
  guint *owner = g_object_get_qdata (G_OBJECT (invocation), authorized_owner_quark ());

  if (vml_fence_target_signalable_by (target, uid) ||
      g_object_get_qdata (G_OBJECT (invocation), fence_target_asked_quark ()) != NULL)
    return TRUE;
  if (owner != NULL)
    auth.owner_uid = *owner;
  g_object_set_qdata (G_OBJECT (invocation), fence_target_asked_quark (), GINT_TO_POINTER (1));
  vml_authority_run_authorized (self->authority, invocation, G_OBJECT (self), &auth, again);
  return FALSE;
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

/* The first half of a loss: the VM fenced, the state lost, at once. The
 * details of what was done go into @details for the Lost signal. */
static void
enter_lost (VmlLease *self, pid_t holder_pid, GVariantDict *details)
{
  g_variant_dict_init (details, NULL);
  apply_fence (self, details);
  g_variant_dict_insert (details, "holder_pid", "u", (guint) holder_pid);
  g_variant_dict_insert (details, "fence_pid", "u", self->fence_pid);
  g_variant_dict_insert (details, "host_id", "t", vml_lockspace_get_host_id (self->lockspace));
  g_variant_dict_insert (details, "time", "t", (guint64) g_get_real_time ());
  lease_set_state (self, LEASE_LOST);
  lease_publish_holding (self);
  lease_save_or_warn (self);
}

/* The second half: what happened, said. Takes @details. */
static void
emit_lost (VmlLease *self, const char *reason, GVariantDict *details, const char *why)
{
  g_variant_dict_insert (details, "message", "s", why);
  vml_log_lease (G_LOG_LEVEL_WARNING, self->uuid, vml_lockspace_get_name (self->lockspace),
                 VML_MSGID_LEASE_LOST, "Lease lost (%s): %s", reason, why);
  vml_dbus_lease_emit_lost (self->iface, reason, g_variant_dict_end (details));
}

void
lease_report_lost (VmlLease *self, const char *reason, pid_t holder_pid, const char *why)
{
  GVariantDict details;

  enter_lost (self, holder_pid, &details);
  emit_lost (self, reason, &details, why);
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
  g_autofree GVariantDict *details = user_data;

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    {
      emit_lost (self, "lockspace-failed", details,
                 "this host could not renew its lockspace on storage; sanlock revoked "
                 "the lease and the holder fenced the VM process first");
      vml_lockspace_mark_lost (self->lockspace, "this host could not renew its host lease on "
                               "storage, and sanlock gave the lockspace up");
    }
  else
    emit_lost (self, "revoked", details,
               "another host took the lease (a seize); the holder fenced the VM "
               "process first");
}

/* vmlease-holder's exit statuses when it ended its lease itself, having
 * fenced the VM first: the sanlock daemon closed its connection (gone), or
 * sanlock revoked the lease (so that sanlock could free it). */
#define HOLDER_EXIT_DAEMON_GONE 3
#define HOLDER_EXIT_REVOKED     4

#define SANLOCK_GONE_WHY "the sanlock daemon closed its connections (it died or was stopped)"

void
lease_report_holder_end (VmlLease *self, pid_t pid, int status, const char *when)
{
  gboolean fenced = FALSE;
  int noted = -1;

  /* Not our child (adopted after a restart), or ended while we were not
   * running: the holder's note tells its exit status. Taken (removed) in
   * any case, so that no later holder with a recycled pid finds it. */
  if (vml_store_take_note (self->store, self->uuid, pid, &noted, &fenced) && status < 0)
    status = noted;
  if (status == HOLDER_EXIT_REVOKED)
    {
      /* Revoked: by another host's seize, or because this host could not
       * renew its lockspace on storage? The local sanlock daemon knows; the
       * state does not wait for the answer. */
      GVariantDict *details = g_new0 (GVariantDict, 1);
      g_autoptr(GTask) task = NULL;

      enter_lost (self, pid, details);
      task = g_task_new (self, NULL, on_revocation_explained, details);
      g_task_run_in_thread (task, explain_revocation_thread);
    }
  else if (status == HOLDER_EXIT_DAEMON_GONE)
    {
      g_autofree char *why = g_strdup_printf ("%s%s; the lease went with it, and the holder "
                                              "fenced the VM process itself", SANLOCK_GONE_WHY,
                                              when);
      lease_report_lost (self, "sanlock-gone", pid, why);
      vml_lockspace_mark_lost (self->lockspace, "the sanlock daemon is gone: " SANLOCK_GONE_WHY);
    }
  else
    {
      g_autofree char *why = g_strdup_printf ("the holder process ended without a release%s; "
                                              "sanlock dropped the lease", when);
      lease_report_lost (self, "holder-exited", pid, why);
    }
}

/* The holder ended without being asked to: whatever sanlock held for it
 * is gone, so the lease is lost here at once, whatever operation is queued
 * or running (that one finds self->losses moved and keeps nothing). */
static void
on_holder_exited (VmlHolder *holder, int status, gpointer user_data)
{
  VmlLease *self = VML_LEASE (user_data);
  pid_t pid = vml_holder_get_pid (holder);

  lease_drop_holder (self);
  lease_publish_holding (self);
  /* The source after perform holds nothing: a new holder takes it back if
   * the hand-off fails. */
  if (self->transfer_role == TRANSFER_SOURCE && g_strcmp0 (self->transfer_step, "perform") == 0)
    return;
  if (!lease_state_has_holder (self->state))
    return;   /* releasing: the lease goes anyway */
  self->losses++;
  lease_transfer_clear (self);
  lease_report_holder_end (self, pid, status, "");
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
    {
      const char *lead = i ? ", " : text->len ? "; held shared by hosts " : "held shared by hosts ";

      g_string_append_printf (text, "%s%" G_GUINT64_FORMAT, lead,
                              g_array_index (owners->shared_owners, guint64, i));
    }
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

/* A delete holds the lease itself, exclusively, from before its last look
 * at the owners until the area is cleared: else another host could take
 * it in between and keep writing a VM's disks under a lease that no longer
 * exists (and whose area the index may hand to the next CreateLease). The
 * guard is a short-lived holder; ending it lets go (sanlock then finds the
 * area cleared and writes nothing). */
typedef struct {
  VmlHolder *guard;
} DeleteData;

static void
delete_data_free (DeleteData *data)
{
  if (data->guard != NULL)
    vml_holder_terminate (data->guard);
  g_clear_object (&data->guard);
  g_free (data);
}

static gboolean
guard_for_delete (VmlLease *self, DeleteData *data, VmlSanlockResource *res, GError **error)
{
  data->guard = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                  VML_HOLDER_FOR_LOCK, error);
  if (data->guard == NULL || !vml_holder_claim_lock (data->guard, self->uuid, error) ||
      !vml_sanlock_acquire (res, vml_holder_get_pid (data->guard), FALSE, 0, NULL, error))
    {
      g_prefix_error (error, "the lease of %s cannot be deleted: ", self->uuid);
      return FALSE;
    }
  return TRUE;
}

static void
delete_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VmlLease *self = VML_LEASE (source);
  DeleteData *data = task_data;
  g_autoptr(VmlSanlockOwners) owners = NULL;
  VmlSanlockResource res;
  GError *error = NULL;

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
  if (!guard_for_delete (self, data, &res, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  /* An indexed lease's entry goes under the index lock, from the main loop
   * (on_free_to_delete); an explicit one is cleared here. */
  res.sector_size = vml_lockspace_sector_size_at (self->lockspace, self->path);
  if (!self->indexed && !vml_sanlock_resource_clear (&res, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
deleted (VmlLease *self, GError *error)
{
  if (error == NULL)
    vml_log_lease (G_LOG_LEVEL_MESSAGE, self->uuid, vml_lockspace_get_name (self->lockspace),
                   NULL, "Lease deleted from storage");
  lease_finish_op (self, NULL, error);
}

static void
on_deleted_from_index (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) guarded = user_data;   /* its DeleteData ends the guard */
  VmlLease *self = VML_LEASE (g_task_get_source_object (guarded));
  GError *error = NULL;

  vml_lockspace_run_locked_index_finish (VML_LOCKSPACE (source), result, &error);
  deleted (self, error);
}

static void
on_free_to_delete (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) || !self->indexed)
    {
      deleted (self, error);
      return;
    }
  vml_lockspace_run_locked_index_async (self->lockspace,
                                        vml_holder_pool_get_holder_path (self->holders),
                                        delete_from_index_locked, self, on_deleted_from_index,
                                        g_object_ref (result));
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
  task = g_task_new (self, NULL, on_free_to_delete, NULL);
  g_task_set_task_data (task, g_new0 (DeleteData, 1), (GDestroyNotify) delete_data_free);
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
  { "Acquire", "handle-acquire", lease_acquire_authorized },
  { "Release", "handle-release", lease_release_authorized },
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
  remember_authorized_owner (invocation, target.owner_uid);
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

  remember_authorized_owner (invocation, target.owner_uid);
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

guint64
vml_lease_message_key_of (const char *uuid)
{
  /* FNV-1a, 64 bits: stable across hosts and builds, unlike g_str_hash */
  guint64 key = G_GUINT64_CONSTANT (0xcbf29ce484222325);

  for (const char *p = uuid; *p != '\0'; p++)
    {
      key ^= (guchar) g_ascii_tolower (*p);
      key *= G_GUINT64_CONSTANT (0x100000001b3);
    }
  return key != 0 ? key : 1;   /* sanlock takes no event 0 */
}

guint64
vml_lease_get_message_key (VmlLease *self)
{
  return vml_lease_message_key_of (self->uuid);
}
const char *vml_lease_get_uuid (VmlLease *self) { return self->uuid; }
VmlLockspace *
vml_lease_get_lockspace (VmlLease *self)
{
  return self->lockspace;
}
GDBusObjectSkeleton *
vml_lease_get_object (VmlLease *self)
{
  return G_DBUS_OBJECT_SKELETON (self->object);
}
const char *vml_lease_get_object_path (VmlLease *self) { return self->object_path; }
gboolean vml_lease_is_held (VmlLease *self) { return lease_state_is_held (self->state); }
gboolean vml_lease_is_busy (VmlLease *self) { return !g_queue_is_empty (&self->ops); }

char *
vml_lease_describe_wait (VmlLease *self)
{
  gint64 left = self->acquire_wait_deadline - g_get_monotonic_time ();

  if (self->state != LEASE_ACQUIRING || self->acquire_wait_deadline == 0)
    return NULL;
  return g_strdup_printf ("an Acquire of lease %s by uid %u is waiting for another host to "
                          "let it go (up to %" G_GINT64_FORMAT " s more, or until its caller "
                          "leaves the bus)", self->uuid, self->acquire_wait_uid,
                          MAX (left, 0) / G_USEC_PER_SEC + 1);
}
