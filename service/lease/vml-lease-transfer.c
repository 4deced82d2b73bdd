/* vml-lease-transfer.c: VmlLease's migration hand-off, Transfer(step,
 * token, options), as docs/api.md ("Transfer: the migration hand-off") and
 * the Transfer doc in the XML describe it; the reasons are in
 * docs/decisions.md ("Migration tokens", "Hand-off details").
 *
 * Here: running a step. Each is an operation in the lease's queue: its
 * check on the main loop (order, side, token: nothing has changed if it
 * fails), its work in a worker thread, then the new state applied and the
 * next token issued on the main loop. The side's progress (role, transfer
 * id, step, peer: vml-transfer.h) is kept in the lease record, so a restart
 * of vmleased resumes where it was. The steps themselves are in
 * vml-lease-transfer-steps.c.
 *
 * sanlock alone would let a third host take the lease shared during a
 * hand-off: the source holds the transfer marker (vml-lease-sanlock.h) so
 * that a shared Acquire on any other host backs off. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

static void
step_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  StepData *data = task_data;
  GError *error = NULL;

  if (data->spec->work (VML_LEASE (source), data, &error) || data->again || data->needs_marker ||
      data->write_ahead)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void on_step_done (GObject *source, GAsyncResult *result, gpointer user_data);
static void on_marker_made (GObject *source, GAsyncResult *result, gpointer user_data);

static void
run_step_work (VmlLease *self, GTask *op)
{
  lease_op_work_in_thread (self, op, step_thread, on_step_done);
}

/* The lease's holder exited while the step ran (vml-lease-loss.c reported the
 * loss, fenced the VM and cleared the hand-off): what the step did went
 * with it, so nothing of it is applied. */
static gboolean
lost_meanwhile (VmlLease *self, StepData *data, GError **error)
{
  if (data->losses == self->losses)
    return FALSE;
  if (data->holder != NULL)
    vml_holder_terminate (data->holder);
  g_clear_error (error);
  g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
               "the lease of %s was lost while Transfer %s ran (its holder exited; see the "
               "Lost signal); nothing of this step is kept", self->uuid, data->spec->name);
  return TRUE;
}

/* prepare records its holder before sanlock is asked (as Acquire does), so
 * the state moves at once and goes back if the step fails. */
static void
undo_prepare (VmlLease *self, StepData *data)
{
  if (data->holder != NULL)
    vml_holder_pool_give (self->holders, data->holder);
  g_clear_object (&data->holder);
  g_clear_object (&self->acquiring_holder);
  lease_set_state (self, data->previous);
  lease_save_or_warn (self);
}

static void
on_step_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  StepData *data = g_task_get_task_data (op);
  GError *error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);

  if (lost_meanwhile (self, data, &error))
    ok = FALSE;
  else if (ok && data->again)
    {
      data->again = FALSE;
      lease_op_again_after (op, data->again_ms ? data->again_ms : WAIT_POLL_MS, run_step_work);
      return;
    }
  else if (ok && data->write_ahead)
    {
      data->write_ahead = FALSE;
      perform_write_ahead (self, data);
      run_step_work (self, op);
      return;
    }
  else if (ok && data->needs_marker)
    {
      data->needs_marker = FALSE;
      data->marker_made = TRUE;
      lease_sanlock_marker_create_async (self->sanlock, self,
                                         vml_holder_pool_get_holder_path (self->holders),
                                         on_marker_made, op);
      return;
    }
  g_clear_pointer (&self->transfer.waiting, g_free);
  if (!ok && STEP_IS (data, STEP_FINISH) && data->qmp != NULL &&
      self->transfer.role == TRANSFER_DESTINATION && self->transfer_qmp == NULL)
    self->transfer_qmp = g_steal_pointer (&data->qmp);   /* for the next finish */
  if (!ok)
    {
      if (STEP_IS (data, STEP_PREPARE))
        undo_prepare (self, data);
      if (STEP_IS (data, STEP_PERFORM) && data->written_ahead)
        perform_undo_write_ahead (self);
      if (data->taken_meanwhile && STEP_IS (data, STEP_CANCEL))
        {
          /* cancel undoes this side; what it would give back is gone. */
          g_clear_error (&error);
          transfer_source_gives_up (self);
          lease_finish_op (self, g_variant_new_string (""), NULL);
          return;
        }
      lease_finish_op (self, NULL, error);
      return;
    }
  if (STEP_IS (data, STEP_FINISH) && data->resume && data->success)
    {
      transfer_resume_then_answer (self, op, data->spec->done (self, data));
      return;
    }
  lease_finish_op (self, g_variant_new_take_string (data->spec->done (self, data)), NULL);
}

/* What the worker thread may know of the lease, taken now. */
static void
snapshot_for_thread (VmlLease *self, StepData *data)
{
  g_set_object (&data->held_by, self->holder);
  data->role = self->transfer.role;
  data->after_perform = g_strcmp0 (self->transfer.step, "perform") == 0;
  data->peer = self->transfer.peer;
  data->transfer_lver = self->transfer.lver;
  data->losses = self->losses;
  data->started = g_get_monotonic_time ();
  data->deadline = data->started + (gint64) data->wait_s * G_USEC_PER_SEC;
  if (!STEP_IS (data, STEP_PREPARE))
    {
      g_clear_pointer (&data->disks, g_ptr_array_unref);
      data->disks = lease_disks_copy (self->disks);
    }
  /* A holder that takes the lease back fences as the lease does; finish
   * may have been given a new target instead. */
  if (!STEP_IS (data, STEP_PREPARE) && !(STEP_IS (data, STEP_FINISH) && data->fence_given))
    {
      data->fence = self->fence;
      data->fence_pid = self->fence_pid;
      data->fence_qmp = g_strdup (self->fence_qmp);
    }
}

/* Every step but prepare works through the lease's holder, except the
 * source's after perform, whose holder may be gone (it held nothing). */
static gboolean
holder_present (VmlLease *self, StepData *data, GError **error)
{
  if (data->held_by != NULL || STEP_IS (data, STEP_PREPARE) ||
      (data->role == TRANSFER_SOURCE && data->after_perform) ||
      (STEP_IS (data, STEP_CONFIRM) && data->role == TRANSFER_NONE))   /* post-copy */
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
               "the lease of %s has no holder on this host any more (it exited); it is %s",
               self->uuid, lease_state_names[self->state]);
  return FALSE;
}

static void
on_marker_made (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GError *error = NULL;

  if (lease_sanlock_marker_create_finish (result, &error))
    run_step_work (self, G_TASK (user_data));
  else
    {
      g_prefix_error (&error, "cannot mark the lease as in a hand-off: ");
      lease_finish_op (self, NULL, error);
    }
}

static void start_step (VmlLease *self, GTask *op);

static void
on_prepare_disks_located (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VmlLease *self = VML_LEASE (source);
  GTask *op = G_TASK (user_data);
  StepData *data = g_task_get_task_data (op);
  GError *error = NULL;

  data->disks = lease_disks_locate_finish (self, result, &error);
  if (data->disks == NULL)
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  transfer_disks_mark_common (data, data->token->disks);
  data->disks_located = TRUE;
  start_step (self, op);
}

/* prepare: the destination's disks are found in the index first (they may
 * be new there: the index lock is taken from the main loop). */
static void
locate_prepare_disks (VmlLease *self, GTask *op)
{
  StepData *data = g_task_get_task_data (op);
  g_autoptr(GPtrArray) specs = NULL;
  GError *error = NULL;

  specs = transfer_disks_wanted (self, data, &error);
  if (specs == NULL)
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  data->disk_holders = g_ptr_array_new_with_free_func (g_object_unref);
  if (specs->len == 0)
    {
      data->disks = g_ptr_array_new_with_free_func ((GDestroyNotify) lease_disk_free);
      data->disks_located = TRUE;
      start_step (self, op);
      return;
    }
  lease_disks_locate (self, specs, on_prepare_disks_located, op);
}

static void
start_step (VmlLease *self, GTask *op)
{
  StepData *data = g_task_get_task_data (op);
  GError *error = NULL;

  snapshot_for_thread (self, data);
  if (!data->spec->check (self, data, &error) || !holder_present (self, data, &error))
    {
      lease_finish_op (self, NULL, error);
      return;
    }
  if (STEP_IS (data, STEP_PREPARE) && !data->disks_located)
    {
      locate_prepare_disks (self, op);
      return;
    }
  if (STEP_IS (data, STEP_PREPARE))
    {
      data->previous = self->state;
      /* this host's part in an earlier post-copy hand-off is over: a
       * cancel now is about this one, whether the prepare works or not */
      g_clear_pointer (&self->transfer.committed, g_free);
      vml_store_drop_notes (self->store, self->uuid);   /* of earlier holds */
      data->holder = vml_holder_pool_take (self->holders);
      g_set_object (&self->acquiring_holder, data->holder);
      lease_set_state (self, LEASE_MIGRATING_IN);
      lease_save_or_warn (self);
    }
  /* perform: "performing" is recorded before the worker looks at storage
   * and lets go, with the lease version T2 names (checked there: the
   * storage's, recorded again if it differs), so that one trip to the
   * worker does both inside the guest's pause */
  if (STEP_IS (data, STEP_PERFORM))
    {
      data->lver = data->token->lver;
      perform_write_ahead (self, data);
    }
  /* finish {resume}: the monitor prepare {resume} connected to, if it is
   * still the lease's QEMU (not one finish names instead) */
  if (STEP_IS (data, STEP_FINISH) && data->resume && !data->fence_given)
    data->qmp = g_steal_pointer (&self->transfer_qmp);
  if (data->wait_s > 0 && self->transfer.role == TRANSFER_SOURCE)
    self->transfer.waiting = g_strdup_printf ("to let go of the lease (or to be seen dead by "
                                              "sanlock), up to %u s", data->wait_s);
  run_step_work (self, op);
}

static const StepSpec *
find_step (const char *name, GError **error)
{
  for (guint i = 0; i < N_STEPS; i++)
    if (g_str_equal (lease_transfer_steps[i].name, name))
      return &lease_transfer_steps[i];
  g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
               "unknown Transfer step '%s'; use begin, prepare, perform, finish, confirm "
               "or cancel", name);
  return NULL;
}

static StepData *
parse_step (const char *step, const char *token, GVariant *options, guint uid, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  StepData *data;
  const StepSpec *spec = find_step (step, error);
  g_autofree char *method = g_strdup_printf ("Transfer %s", step);

  if (spec == NULL || !vml_options_check (options, method, spec->options, error))
    return NULL;
  data = g_new0 (StepData, 1);
  data->target.pidfd = -1;
  data->spec = spec;
  data->uid = uid;
  data->success = TRUE;
  if (*token != '\0' && (data->token = vml_token_decode (token, error)) == NULL)
    goto fail;
  data->token_text = g_strdup (token);
  g_variant_lookup (options, "postcopy", "b", &data->postcopy);
  data->disk_option = g_variant_lookup_value (options, "disks", G_VARIANT_TYPE ("a(ss)"));
  g_variant_lookup (options, "wait", "u", &data->wait_s);
  g_variant_lookup (options, "resume", "b", &data->resume);
  if (!vml_check_wait (data->wait_s, method, error))
    goto fail;
  /* confirm without "success" believes the destination's token */
  if (!g_variant_lookup (options, "success", "b", &data->success) && data->token != NULL &&
      data->token->kind == VML_TOKEN_FINISHED)
    data->success = data->token->success;
  /* finish: a destination VM process started after prepare */
  data->fence_given = g_variant_lookup (options, "pid", "u", NULL) ||
                      g_variant_lookup (options, "fence", "&s", NULL) ||
                      g_variant_lookup (options, "qmp", "&s", NULL);
  if ((spec == &lease_transfer_steps[STEP_PREPARE] ||
       (spec == &lease_transfer_steps[STEP_FINISH] && data->fence_given)) &&
      (!vml_fence_options_parse (options, &data->fence, &data->fence_pid, &data->fence_qmp,
                                 error) ||
       (data->fence_pid != 0 && !vml_fence_target_open (data->fence_pid, &data->target, error))))
    goto fail;
  return data;

fail:
  lease_step_data_free (data);
  return NULL;
}

void
lease_transfer_authorized (GObject *object, GDBusMethodInvocation *invocation, guint uid)
{
  VmlLease *self = VML_LEASE (object);
  g_autoptr(GVariant) options = NULL;
  const char *step, *token;
  GError *error = NULL;
  StepData *data;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s@a{sv})",
                 &step, &token, &options);
  data = parse_step (step, token, options, uid, &error);
  if (data != NULL && data->fence_pid != 0 &&
      !lease_fence_target_allowed (self, invocation, uid, &data->target,
                                   lease_transfer_authorized))
    {
      lease_step_data_free (data);
      return;
    }
  lease_enqueue_invocation (self, invocation, uid, data, (GDestroyNotify) lease_step_data_free,
                            error, start_step);
}

