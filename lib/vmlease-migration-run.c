/* vmlease-migration-run.c: VmleaseMigration's run: the five steps in a
 * row, for a lease moved without a live migration to fit them to. */
#include "vmlease-migration-private.h"

/* --- all five --------------------------------------------------------------- */

static const VmleaseTransferStep run_steps[] = {
  VMLEASE_TRANSFER_STEP_BEGIN,
  VMLEASE_TRANSFER_STEP_PREPARE,
  VMLEASE_TRANSFER_STEP_PERFORM,
  VMLEASE_TRANSFER_STEP_FINISH,
  VMLEASE_TRANSFER_STEP_CONFIRM,
};

/* Before perform, a failed run is undone; after it the lease is the
 * destination's to keep or give back, which the caller decides. */
static gboolean
undo_on_failure (VmleaseMigration *self)
{
  return self->step == VMLEASE_TRANSFER_STEP_BEGIN || self->step == VMLEASE_TRANSFER_STEP_PREPARE;
}

/**
 * vmlease_migration_run_sync:
 * @self: a migration not begun
 * @options: (nullable): prepare's options: the destination VM process
 *   (`pid`, `fence`) and its disk set
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * All five steps in a row; see [method@Vmlease.Migration.run].
 *
 * Returns: whether the lease is the destination's now
 */
gboolean
vmlease_migration_run_sync (VmleaseMigration *self, VmleaseTransferOptions *options,
                            GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (run_steps); i++)
    {
      VmleaseTransferOptions *o = run_steps[i] == VMLEASE_TRANSFER_STEP_PREPARE ? options : NULL;

      if (!vmlease_migration_step_sync (self, run_steps[i], o, cancellable, error))
        {
          if (undo_on_failure (self))
            vmlease_migration_cancel_sync (self, NULL, NULL);
          return FALSE;
        }
    }
  return TRUE;
}

typedef struct {
  guint next;
  VmleaseTransferOptions *options;
  GError *error;                        /* a failed step's, while undoing */
} RunData;

static void
run_data_free (RunData *d)
{
  g_clear_object (&d->options);
  g_clear_error (&d->error);
  g_free (d);
}

static void
on_run_undone (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  RunData *d = g_task_get_task_data (task);

  vmlease_migration_step_finish (VMLEASE_MIGRATION (source), result, NULL);
  g_task_return_error (task, g_steal_pointer (&d->error));
}

static void
on_run_step (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseMigration *self = VMLEASE_MIGRATION (source);
  RunData *d = g_task_get_task_data (task);
  VmleaseTransferStep step;

  if (!vmlease_migration_step_finish (self, result, &d->error))
    {
      if (undo_on_failure (self))
        vmlease_migration_step (self, VMLEASE_TRANSFER_STEP_CANCEL, NULL, NULL, on_run_undone,
                                g_steal_pointer (&task));
      else
        g_task_return_error (task, g_steal_pointer (&d->error));
      return;
    }
  if (d->next == G_N_ELEMENTS (run_steps))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  step = run_steps[d->next++];
  vmlease_migration_step (self, step, step == VMLEASE_TRANSFER_STEP_PREPARE ? d->options : NULL,
                          g_task_get_cancellable (task), on_run_step, g_steal_pointer (&task));
}

/**
 * vmlease_migration_run:
 * @self: a migration not begun
 * @options: (nullable): prepare's options: the destination VM process
 *   (`pid`, `fence`) and its disk set
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the lease is the destination's, or the run failed
 * @user_data: data for @callback
 *
 * begin, prepare, perform, finish and confirm in a row: for callers that
 * move a lease without a live migration to fit the steps to (a VM that is
 * stopped on one host and started on the other keeps its lease held all
 * along). A run that fails before perform is cancelled on both hosts
 * before the callback, and the error is the failed step's.
 */
void
vmlease_migration_run (VmleaseMigration *self, VmleaseTransferOptions *options,
                       GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
  GTask *task;
  RunData *d;

  g_return_if_fail (VMLEASE_IS_MIGRATION (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, vmlease_migration_run);
  d = g_new0 (RunData, 1);
  d->options = options != NULL ? g_object_ref (options) : NULL;
  d->next = 1;
  g_task_set_task_data (task, d, (GDestroyNotify) run_data_free);
  vmlease_migration_step (self, run_steps[0], NULL, cancellable, on_run_step, task);
}

/**
 * vmlease_migration_run_finish:
 * @self: the migration
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Migration.run].
 *
 * Returns: whether the lease is the destination's now
 */
gboolean
vmlease_migration_run_finish (VmleaseMigration *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
