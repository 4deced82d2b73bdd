/* vmlease-migration-switchover.c: VmleaseMigration's switchover: perform on
 * the source and finish on the destination sent together at the source's
 * STOP, finish with prepare's token and a wait (docs/decisions.md "finish
 * side by side with perform"), so that neither waits for the other's
 * answer to travel back through the caller. */
#include "vmlease-migration-private.h"

/* finish's wait for the source's perform when the caller gave none */
#define SWITCHOVER_WAIT_DEFAULT_S 10

typedef struct {
  guint         pending;          /* answers still to come */
  char         *performed;        /* T3 */
  GError       *perform_error;
  char         *finished;         /* T4 */
  GError       *finish_error;
  GCancellable *finish_cancellable; /* ends finish's call when perform failed */
  gulong        cancel_handler;
} Switchover;

static void
switchover_free (Switchover *d)
{
  g_free (d->performed);
  g_clear_error (&d->perform_error);
  g_free (d->finished);
  g_clear_error (&d->finish_error);
  g_clear_object (&d->finish_cancellable);
  g_free (d);
}

/* finish's options: the caller's (pid, fence, qmp, resume, wait), with a
 * wait if they have none: side by side, finish must wait for perform. */
static VmleaseTransferOptions *
finish_options (VmleaseTransferOptions *given)
{
  VmleaseTransferOptions *options = vmlease_transfer_options_new ();

  if (given != NULL)
    {
      vmlease_transfer_options_set_pid (options, vmlease_transfer_options_get_pid (given));
      vmlease_transfer_options_set_fence (options, vmlease_transfer_options_get_fence (given));
      vmlease_transfer_options_set_qmp (options, vmlease_transfer_options_get_qmp (given));
      vmlease_transfer_options_set_resume (options, vmlease_transfer_options_get_resume (given));
      vmlease_transfer_options_set_wait (options, vmlease_transfer_options_get_wait (given));
    }
  if (vmlease_transfer_options_get_wait (options) == 0)
    vmlease_transfer_options_set_wait (options, SWITCHOVER_WAIT_DEFAULT_S);
  return options;
}

/* Both answered. A finish that worked decides: the lease is the
 * destination's, whatever became of perform's answer (lost with a crash of
 * the source's vmleased after it let go, say). Otherwise perform's failure
 * is the result; after a perform that worked its T3 is kept as the
 * migration's token, so that confirm can follow (with T3 when finish's
 * answer was lost). */
static void
switchover_complete (GTask *task)
{
  VmleaseMigration *self = g_task_get_source_object (task);
  Switchover *d = g_task_get_task_data (task);

  if (d->cancel_handler != 0)
    g_cancellable_disconnect (g_task_get_cancellable (task), d->cancel_handler);
  d->cancel_handler = 0;
  if (d->finished == NULL && d->perform_error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&d->perform_error));
      return;
    }
  if (d->performed != NULL)
    _vmlease_migration_step_done (self, VMLEASE_TRANSFER_STEP_PERFORM,
                                  g_steal_pointer (&d->performed));
  if (d->finished == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&d->finish_error));
      return;
    }
  _vmlease_migration_step_done (self, VMLEASE_TRANSFER_STEP_FINISH,
                                g_steal_pointer (&d->finished));
  g_task_return_boolean (task, TRUE);
}

/* perform's or finish's answer (perform's comes from the source's lease
 * object); the call's reference to @task is taken. */
static void
on_answered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  VmleaseMigration *self = g_task_get_source_object (task);
  Switchover *d = g_task_get_task_data (task);
  gboolean perform = VMLEASE_LEASE (source) == self->source_lease;
  GError **error = perform ? &d->perform_error : &d->finish_error;
  char *next = vmlease_lease_transfer_finish (VMLEASE_LEASE (source), result, error);

  if (perform)
    d->performed = next;
  else
    d->finished = next;
  /* vmleased refused perform (nothing moved): finish's wait is in vain.
   * Not when the answer is missing (NoReply): the source may have let go. */
  if (perform && next == NULL && (*error)->domain == VMLEASE_ERROR)
    g_cancellable_cancel (d->finish_cancellable);
  if (--d->pending == 0)
    switchover_complete (task);
  g_object_unref (task);
}

static void
cancel_finish (GCancellable *cancellable, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/**
 * vmlease_migration_switchover:
 * @self: a migration whose last step was prepare
 * @postcopy: whether this is a post-copy switchover (the point of no return)
 * @options: (nullable): finish's options: `resume` (with prepare's `pid`
 *   and `qmp`, vmleased starts the destination's guest itself), `wait`
 *   (seconds finish waits for perform; 10 if not set), a new `pid`
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when both steps answered
 * @user_data: data for @callback
 *
 * At the source's `STOP`: perform on the source and finish on the
 * destination, sent together, finish with prepare's token and a wait. The
 * destination's finish answers once the source let go (with `resume`, once
 * the guest runs there), which saves the pause the guest waits for perform's
 * answer to come back before finish is sent. On success
 * [property@Vmlease.Migration:step] is finish and the token T4: confirm
 * follows at the source's `MIGRATION` `completed`. If the source's
 * vmleased refused perform, its error is returned, finish's call is given
 * up (the destination's finish still waits its `wait` out, then answers
 * Busy: a cancel there queues behind it) and nothing moved; a finish that
 * worked wins over a perform whose answer was lost. If only finish failed,
 * its error is returned and the step is perform with T3: when finish's
 * answer was lost
 * (the destination's vmleased died after recording it) and the lease is
 * held there, confirm with that T3 ends the hand-off
 * ([method@Vmlease.Migration.confirm_sync]).
 */
void
vmlease_migration_switchover (VmleaseMigration *self, gboolean postcopy,
                              VmleaseTransferOptions *options, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(VmleaseTransferOptions) at_perform = NULL;
  g_autoptr(VmleaseTransferOptions) at_finish = NULL;
  GTask *task;
  Switchover *d;

  g_return_if_fail (VMLEASE_IS_MIGRATION (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, vmlease_migration_switchover);
  if (self->step != VMLEASE_TRANSFER_STEP_PREPARE || self->source_lease == NULL ||
      self->destination_lease == NULL)
    {
      g_task_return_new_error (task, VMLEASE_ERROR, VMLEASE_ERROR_WRONG_STEP,
                               "the switchover (perform and finish) follows prepare, done "
                               "through this migration");
      g_object_unref (task);
      return;
    }
  d = g_new0 (Switchover, 1);
  d->pending = 2;
  d->finish_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    d->cancel_handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_finish),
                                               g_object_ref (d->finish_cancellable),
                                               g_object_unref);
  g_task_set_task_data (task, d, (GDestroyNotify) switchover_free);
  at_perform = vmlease_transfer_options_new ();
  vmlease_transfer_options_set_postcopy (at_perform, postcopy);
  at_finish = finish_options (options);
  vmlease_lease_transfer (self->source_lease, VMLEASE_TRANSFER_STEP_PERFORM, self->token,
                          at_perform, cancellable, on_answered, g_object_ref (task));
  vmlease_lease_transfer (self->destination_lease, VMLEASE_TRANSFER_STEP_FINISH, self->token,
                          at_finish, d->finish_cancellable, on_answered, task);
}

/**
 * vmlease_migration_switchover_finish:
 * @self: the migration
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Migration.switchover].
 *
 * Returns: whether both steps were done: the lease may be used on the
 *   destination (its guest resumed, with `resume`)
 */
gboolean
vmlease_migration_switchover_finish (VmleaseMigration *self, GAsyncResult *result,
                                     GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_switchover_sync (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/**
 * vmlease_migration_switchover_sync:
 * @self: a migration whose last step was prepare
 * @postcopy: whether this is a post-copy switchover
 * @options: (nullable): finish's options; see
 *   [method@Vmlease.Migration.switchover]
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * [method@Vmlease.Migration.switchover], blocking (the two calls still go
 * out together, from a main context of this call's own).
 *
 * Returns: whether both steps were done
 */
gboolean
vmlease_migration_switchover_sync (VmleaseMigration *self, gboolean postcopy,
                                   VmleaseTransferOptions *options, GCancellable *cancellable,
                                   GError **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;

  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), FALSE);
  g_main_context_push_thread_default (context);
  vmlease_migration_switchover (self, postcopy, options, cancellable, on_switchover_sync,
                                &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  return vmlease_migration_switchover_finish (self, result, error);
}
