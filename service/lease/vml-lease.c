/* vml-lease.c: see vml-lease.h. Here: the lease's state, its holder's
 * sanlock commands, the per-lease operation queue, who may act on it, and
 * the D-Bus dispatch. Beside it: vml-lease-acquire.c, vml-lease-release.c,
 * vml-lease-inquire.c, vml-lease-delete.c, vml-lease-transfer.c and
 * vml-lease-handoff.c (the operations), vml-lease-loss.c (the holder's
 * life and the loss it reports), vml-lease-record.c (the record on disk)
 * and vml-lease-storage.c (StorageState).
 *
 * Threading: the GObject and its D-Bus skeleton are touched only on the main
 * loop. Worker threads get the lease's immutable facts (uuid, lockspace
 * name, location) and a VmlHolder; everything they learn comes back through
 * the GTask and is applied on the main loop. cmd_lock keeps two sanlock
 * commands for the same holder from overlapping: sanlock does not queue
 * them (it answers -EBUSY). */
#include "config.h"

#include <unistd.h>

#include "vml-dispatch.h"
#include "vml-error.h"
#include "vml-holder.h"
#include "vml-lease-private.h"
#include "vml-log.h"
#include "vml-fence.h"
#include "vml-object-path.h"
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
  /* Never while a holder here has it (held, or either side of a hand-off):
   * the object is the only way to see and release what sanlock holds. */
  return error != NULL && g_error_matches (error, VML_ERROR, VML_ERROR_NOT_FOUND) &&
         !lease_state_has_holder (self->state) && self->holder == NULL;
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

/* ---------------------------------------------------------------------- */
/* D-Bus dispatch: every method goes through the authority before its     */
/* handler runs; polkit is told whose lease it is and what it is about.   */

static void
describe_lease (VmlLease *self, GDBusMethodInvocation *invocation, guint owner_uid,
                VmlAuthTarget *target)
{
  target->owner_uid = owner_uid;
  target->vm_uuid = self->uuid;
  target->vm_name = self->name;
  target->lockspace = vml_lockspace_get_name (self->lockspace);
  remember_authorized_owner (invocation, owner_uid);
}

static void
describe_held (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  VmlLease *self = VML_LEASE (object);

  describe_lease (self, invocation,
                  lease_state_is_held (self->state) ? self->owner_uid : VML_UID_NONE, target);
}

/* Acquire with force takes the lease from another host: polkit's .seize
 * decides that, before the options are looked at any further. */
static void
describe_acquire (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  g_autoptr(GVariant) options = NULL;
  gboolean force = FALSE;

  describe_held (object, invocation, target);
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (g_variant_lookup (options, "force", "b", &force))
    target->seize = force;
}

/* A hand-off in progress has a holder without being "held": its owner
 * still decides. */
static void
describe_transfer (GObject *object, GDBusMethodInvocation *invocation, VmlAuthTarget *target)
{
  VmlLease *self = VML_LEASE (object);

  describe_lease (self, invocation,
                  lease_state_has_holder (self->state) ? self->owner_uid : VML_UID_NONE, target);
}

static const VmlMethod lease_methods[] = {
  { "Acquire",  describe_acquire,  lease_acquire_authorized },
  { "Release",  describe_held,     lease_release_authorized },
  { "Inquire",  describe_held,     lease_inquire_authorized },
  { "Transfer", describe_transfer, lease_transfer_authorized },
};

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
  vml_dispatch_serve (G_OBJECT (self), G_DBUS_INTERFACE_SKELETON (self->iface), self->authority,
                      lease_methods, G_N_ELEMENTS (lease_methods));
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
