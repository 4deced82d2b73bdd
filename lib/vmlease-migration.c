/* vmlease-migration.c: VmleaseMigration: which host does each Transfer
 * step, and the tokens passed from one step to the next, so that a virt
 * manager talking to both hosts calls one method per step (or run). */
#include "vmlease-migration-private.h"

/**
 * VmleaseMigration:
 *
 * The lease hand-off of one VM's live migration, for a program that talks
 * to both hosts: a [class@Vmlease.Client] of the source host and one of the
 * destination host. Each step is one call, placed at its QEMU event:
 *
 * 1. begin (source), once the destination QEMU runs (`-S -incoming defer`)
 *    and before the migration starts;
 * 2. prepare (destination), with the destination QEMU's pid as fence
 *    target, right after begin;
 * 3. perform (source), at the source's `STOP` event: the guest is stopped
 *    there (post-copy too: wait for `STOP`, not `postcopy-active`);
 * 4. finish (destination), when perform returned; then `cont` there;
 * 5. confirm (source), at the source's `MIGRATION` `completed`.
 *
 * [method@Vmlease.Migration.switchover] does 3 and 4 in the shorter
 * order: both sent at `STOP`, finish waiting for perform on the
 * destination (and with `resume`, vmleased sends the `cont`).
 *
 * docs/e2e.md shows that order with real QEMU, and what to do when the
 * migration fails.
 *
 * cancel undoes what was done on both sides before the point of no return.
 * The object keeps the token each step returned and passes it to the next.
 * [method@Vmlease.Migration.run] does the five in a row, for callers that
 * have no QEMU events to place them at. The steps fail in
 * [error@Vmlease.Error] (%VMLEASE_ERROR_WRONG_STEP out of order).
 */
G_DEFINE_FINAL_TYPE (VmleaseMigration, vmlease_migration, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_SOURCE,
  PROP_DESTINATION,
  PROP_UUID,
  PROP_STEP,
  PROP_TOKEN,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
vmlease_migration_get_property (GObject *object, guint prop_id, GValue *value,
                                GParamSpec *pspec)
{
  VmleaseMigration *self = VMLEASE_MIGRATION (object);

  switch (prop_id)
    {
    case PROP_SOURCE: g_value_set_object (value, self->source); break;
    case PROP_DESTINATION: g_value_set_object (value, self->destination); break;
    case PROP_UUID: g_value_set_string (value, self->uuid); break;
    case PROP_STEP: g_value_set_enum (value, self->step); break;
    case PROP_TOKEN: g_value_set_string (value, self->token); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_migration_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  VmleaseMigration *self = VMLEASE_MIGRATION (object);

  switch (prop_id)
    {
    case PROP_SOURCE: self->source = g_value_dup_object (value); break;
    case PROP_DESTINATION: self->destination = g_value_dup_object (value); break;
    case PROP_UUID: self->uuid = g_value_dup_string (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vmlease_migration_dispose (GObject *object)
{
  VmleaseMigration *self = VMLEASE_MIGRATION (object);

  g_clear_object (&self->source_lease);
  g_clear_object (&self->destination_lease);
  g_clear_object (&self->source);
  g_clear_object (&self->destination);
  G_OBJECT_CLASS (vmlease_migration_parent_class)->dispose (object);
}

static void
vmlease_migration_finalize (GObject *object)
{
  VmleaseMigration *self = VMLEASE_MIGRATION (object);

  g_free (self->uuid);
  g_free (self->token);
  G_OBJECT_CLASS (vmlease_migration_parent_class)->finalize (object);
}

static void
vmlease_migration_class_init (VmleaseMigrationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags init = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = vmlease_migration_get_property;
  object_class->set_property = vmlease_migration_set_property;
  object_class->dispose = vmlease_migration_dispose;
  object_class->finalize = vmlease_migration_finalize;

  /**
   * VmleaseMigration:source:
   *
   * The client of the host the VM leaves.
   */
  props[PROP_SOURCE] = g_param_spec_object ("source", NULL, NULL, VMLEASE_TYPE_CLIENT, init);
  /**
   * VmleaseMigration:destination:
   *
   * The client of the host the VM goes to.
   */
  props[PROP_DESTINATION] = g_param_spec_object ("destination", NULL, NULL,
                                                 VMLEASE_TYPE_CLIENT, init);
  /**
   * VmleaseMigration:uuid:
   *
   * The VM's UUID.
   */
  props[PROP_UUID] = g_param_spec_string ("uuid", NULL, NULL, NULL, init);
  /**
   * VmleaseMigration:step:
   *
   * The last step done, %VMLEASE_TRANSFER_STEP_NONE before begin.
   */
  props[PROP_STEP] = g_param_spec_enum ("step", NULL, NULL, VMLEASE_TYPE_TRANSFER_STEP,
                                        VMLEASE_TRANSFER_STEP_NONE, ro);
  /**
   * VmleaseMigration:token:
   *
   * The token the last step returned, for the next one; `""` before begin
   * and after confirm and cancel.
   */
  props[PROP_TOKEN] = g_param_spec_string ("token", NULL, NULL, "", ro);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vmlease_migration_init (VmleaseMigration *self)
{
  self->token = g_strdup ("");
}

/**
 * vmlease_migration_new:
 * @source: the client of the host the VM leaves (it holds the lease)
 * @destination: the client of the host the VM goes to
 * @uuid: the VM's UUID
 *
 * A hand-off not begun. Nothing is called before the first step.
 *
 * Returns: (transfer full): the migration
 */
VmleaseMigration *
vmlease_migration_new (VmleaseClient *source, VmleaseClient *destination, const char *uuid)
{
  g_return_val_if_fail (VMLEASE_IS_CLIENT (source), NULL);
  g_return_val_if_fail (VMLEASE_IS_CLIENT (destination), NULL);
  g_return_val_if_fail (uuid != NULL, NULL);
  return g_object_new (VMLEASE_TYPE_MIGRATION, "source", source, "destination", destination,
                       "uuid", uuid, NULL);
}

/**
 * vmlease_migration_get_source:
 * @self: the migration
 *
 * Returns: (transfer none): [property@Vmlease.Migration:source]
 */
VmleaseClient *
vmlease_migration_get_source (VmleaseMigration *self)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), NULL);
  return self->source;
}

/**
 * vmlease_migration_get_destination:
 * @self: the migration
 *
 * Returns: (transfer none): [property@Vmlease.Migration:destination]
 */
VmleaseClient *
vmlease_migration_get_destination (VmleaseMigration *self)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), NULL);
  return self->destination;
}

/**
 * vmlease_migration_get_uuid:
 * @self: the migration
 *
 * Returns: [property@Vmlease.Migration:uuid]
 */
const char *
vmlease_migration_get_uuid (VmleaseMigration *self)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), NULL);
  return self->uuid;
}

/**
 * vmlease_migration_get_step:
 * @self: the migration
 *
 * Returns: [property@Vmlease.Migration:step]
 */
VmleaseTransferStep
vmlease_migration_get_step (VmleaseMigration *self)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), VMLEASE_TRANSFER_STEP_NONE);
  return self->step;
}

/**
 * vmlease_migration_get_token:
 * @self: the migration
 *
 * Returns: [property@Vmlease.Migration:token]
 */
const char *
vmlease_migration_get_token (VmleaseMigration *self)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), NULL);
  return self->token;
}

/* --- one step --------------------------------------------------------------- */

/* Which host does @step: begin, perform and confirm the source, prepare and
 * finish the destination. cancel goes to the destination first (if it
 * prepared), then to the source: the destination lets go before the source
 * takes the lease back. */
static gboolean
on_destination (VmleaseTransferStep step, guint phase)
{
  if (step == VMLEASE_TRANSFER_STEP_CANCEL)
    return phase == 0;
  return step == VMLEASE_TRANSFER_STEP_PREPARE || step == VMLEASE_TRANSFER_STEP_FINISH;
}

/* The cancel phases there are to do from the current step: 0 the
 * destination, 1 the source. */
static guint
first_phase (VmleaseMigration *self, VmleaseTransferStep step)
{
  if (step != VMLEASE_TRANSFER_STEP_CANCEL)
    return 0;
  return self->step >= VMLEASE_TRANSFER_STEP_PREPARE ? 0 : 1;
}

void
_vmlease_migration_step_done (VmleaseMigration *self, VmleaseTransferStep step, char *next)
{
  g_free (self->token);
  self->token = next;
  self->step = step;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TOKEN]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STEP]);
}

/* The token a step on that side is given: the previous step's; cancel
 * needs none. */
static const char *
token_for (VmleaseMigration *self, VmleaseTransferStep step)
{
  return step == VMLEASE_TRANSFER_STEP_CANCEL ? "" : self->token;
}

static VmleaseLease **
lease_slot (VmleaseMigration *self, gboolean destination)
{
  return destination ? &self->destination_lease : &self->source_lease;
}

static VmleaseTransferOptions *
options_for (VmleaseTransferOptions *options, VmleaseTransferStep step, guint phase)
{
  /* cancel's wait is for the source, which may wait for the destination to
   * let go; the destination's cancel does not wait. */
  if (step == VMLEASE_TRANSFER_STEP_CANCEL && phase == 0)
    return NULL;
  return options;
}

/**
 * vmlease_migration_step_sync:
 * @self: the migration
 * @step: the step to do
 * @options: (nullable): its options, or %NULL for the defaults
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Does @step on the host it belongs to, with the previous step's token;
 * see [method@Vmlease.Migration.step].
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_step_sync (VmleaseMigration *self, VmleaseTransferStep step,
                             VmleaseTransferOptions *options, GCancellable *cancellable,
                             GError **error)
{
  g_return_val_if_fail (VMLEASE_IS_MIGRATION (self), FALSE);

  for (guint phase = first_phase (self, step); phase < 2; phase++)
    {
      gboolean dest = on_destination (step, phase);
      VmleaseLease **lease = lease_slot (self, dest);
      char *next;

      if (*lease == NULL)
        {
          *lease = vmlease_client_get_lease_sync (dest ? self->destination : self->source,
                                                  self->uuid, cancellable, error);
          if (*lease == NULL)
            return FALSE;
        }
      next = vmlease_lease_transfer_sync (*lease, step, token_for (self, step),
                                          options_for (options, step, phase),
                                          cancellable, error);
      if (next == NULL)
        return FALSE;
      if (step != VMLEASE_TRANSFER_STEP_CANCEL || phase == 1)
        {
          _vmlease_migration_step_done (self, step, next);
          break;
        }
      g_free (next);
    }
  return TRUE;
}

typedef struct {
  VmleaseTransferStep step;
  VmleaseTransferOptions *options;
  guint phase;
} StepData;

static void
step_data_free (StepData *d)
{
  g_clear_object (&d->options);
  g_free (d);
}

static void step_next (GTask *task);

static void
on_step_transferred (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseMigration *self = g_task_get_source_object (task);
  StepData *d = g_task_get_task_data (task);
  GError *error = NULL;
  char *next = vmlease_lease_transfer_finish (VMLEASE_LEASE (source), result, &error);

  if (next == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (d->step == VMLEASE_TRANSFER_STEP_CANCEL && d->phase == 0)
    {
      g_free (next);
      d->phase = 1;
      step_next (g_steal_pointer (&task));
      return;
    }
  _vmlease_migration_step_done (self, d->step, next);
  g_task_return_boolean (task, TRUE);
}

static void
on_step_lease (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  VmleaseMigration *self = g_task_get_source_object (task);
  StepData *d = g_task_get_task_data (task);
  GError *error = NULL;
  VmleaseLease *lease = vmlease_client_get_lease_finish (VMLEASE_CLIENT (source), result, &error);

  if (lease == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_set_object (lease_slot (self, on_destination (d->step, d->phase)), lease);
  g_object_unref (lease);
  step_next (g_steal_pointer (&task));
}

/* Takes @task. */
static void
step_next (GTask *task)
{
  VmleaseMigration *self = g_task_get_source_object (task);
  StepData *d = g_task_get_task_data (task);
  gboolean dest = on_destination (d->step, d->phase);
  VmleaseLease *lease = *lease_slot (self, dest);

  if (lease == NULL)
    {
      vmlease_client_get_lease (dest ? self->destination : self->source, self->uuid,
                                g_task_get_cancellable (task), on_step_lease, task);
      return;
    }
  vmlease_lease_transfer (lease, d->step, token_for (self, d->step),
                          options_for (d->options, d->step, d->phase),
                          g_task_get_cancellable (task), on_step_transferred, task);
}

/**
 * vmlease_migration_step:
 * @self: the migration
 * @step: the step to do
 * @options: (nullable): its options, or %NULL for the defaults
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the step is done or failed
 * @user_data: data for @callback
 *
 * Does @step on the host it belongs to (begin, perform, confirm: the
 * source; prepare, finish: the destination; cancel: the destination if it
 * prepared, then the source), with the token of the step before. On
 * success [property@Vmlease.Migration:step] and
 * [property@Vmlease.Migration:token] are this step's; on error nothing
 * changed on the host that failed (a cancel whose destination half was
 * done and source half failed can be called again).
 */
void
vmlease_migration_step (VmleaseMigration *self, VmleaseTransferStep step,
                        VmleaseTransferOptions *options, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  StepData *d;

  g_return_if_fail (VMLEASE_IS_MIGRATION (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, vmlease_migration_step);
  d = g_new0 (StepData, 1);
  d->step = step;
  d->options = options != NULL ? g_object_ref (options) : NULL;
  d->phase = first_phase (self, step);
  g_task_set_task_data (task, d, (GDestroyNotify) step_data_free);
  step_next (task);
}

/**
 * vmlease_migration_step_finish:
 * @self: the migration
 * @result: the result given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Vmlease.Migration.step].
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_step_finish (VmleaseMigration *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * vmlease_migration_begin_sync:
 * @self: the migration
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Source, before QEMU's migration starts: the lease goes from exclusive
 * to shared there.
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_begin_sync (VmleaseMigration *self, GCancellable *cancellable, GError **error)
{
  return vmlease_migration_step_sync (self, VMLEASE_TRANSFER_STEP_BEGIN, NULL, cancellable, error);
}

/**
 * vmlease_migration_prepare_sync:
 * @self: the migration
 * @options: (nullable): the destination VM process (`pid`, `fence`) and
 *   its own disk set
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Destination, once its QEMU runs (paused, `-incoming`) and before the
 * source starts sending: the destination takes the lease shared, with
 * QEMU's pid as fence target.
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_prepare_sync (VmleaseMigration *self, VmleaseTransferOptions *options,
                                GCancellable *cancellable, GError **error)
{
  return vmlease_migration_step_sync (self, VMLEASE_TRANSFER_STEP_PREPARE, options,
                                      cancellable, error);
}

/**
 * vmlease_migration_perform_sync:
 * @self: the migration
 * @postcopy: whether this is a post-copy switchover (the point of no return)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Source, at switchover with the guest paused: the source lets go, only
 * while the destination holds the lease shared and lives.
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_perform_sync (VmleaseMigration *self, gboolean postcopy,
                                GCancellable *cancellable, GError **error)
{
  g_autoptr(VmleaseTransferOptions) options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_postcopy (options, postcopy);
  return vmlease_migration_step_sync (self, VMLEASE_TRANSFER_STEP_PERFORM, options,
                                      cancellable, error);
}

/**
 * vmlease_migration_finish_sync:
 * @self: the migration
 * @success: whether the migration completed on the destination
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Destination, after the migration completed and before the guest
 * resumes: shared to exclusive there. With @success %FALSE the destination
 * lets go instead.
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_finish_sync (VmleaseMigration *self, gboolean success,
                               GCancellable *cancellable, GError **error)
{
  g_autoptr(VmleaseTransferOptions) options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_failure (options, !success);
  return vmlease_migration_step_sync (self, VMLEASE_TRANSFER_STEP_FINISH, options,
                                      cancellable, error);
}

/**
 * vmlease_migration_confirm_sync:
 * @self: the migration
 * @success: whether the migration succeeded
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Source, at the end: done. With @success %FALSE (pre-copy only) the
 * source takes the lease back exclusively.
 *
 * Returns: whether the step was done
 */
gboolean
vmlease_migration_confirm_sync (VmleaseMigration *self, gboolean success,
                                GCancellable *cancellable, GError **error)
{
  g_autoptr(VmleaseTransferOptions) options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_failure (options, !success);
  return vmlease_migration_step_sync (self, VMLEASE_TRANSFER_STEP_CONFIRM, options,
                                      cancellable, error);
}

/**
 * vmlease_migration_cancel_sync:
 * @self: the migration
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Undoes the hand-off before the point of no return: the destination lets
 * go (if it prepared), then the source has the lease exclusively again.
 * %VMLEASE_ERROR_COMMITTED after a post-copy perform.
 *
 * Returns: whether the hand-off was undone
 */
gboolean
vmlease_migration_cancel_sync (VmleaseMigration *self, GCancellable *cancellable, GError **error)
{
  return vmlease_migration_step_sync (self, VMLEASE_TRANSFER_STEP_CANCEL, NULL, cancellable,
                                      error);
}
