/* vml-lease-queue.c: the lease's queue of operations (those that change
 * it run one at a time, in arrival order), and the checks that tie an
 * operation to the call polkit authorized: whose lease it was then, and
 * whether the caller may name its fence target. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"

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

void
lease_remember_authorized_owner (GDBusMethodInvocation *invocation, guint owner)
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
  /* A call authorized on the object before it was removed (the lease went
   * from storage) acts on nothing that anyone could see or release. */
  if (self->vanished)
    lease_finish_op (self, NULL,
                     g_error_new (VML_ERROR, VML_ERROR_NOT_FOUND, "the lease of %s is no "
                                  "longer on storage (deleted from another host); ask for it "
                                  "again (GetLease) if it was created again", self->uuid));
  else if (!caller_may_still_act (self, op->task, &error))
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
