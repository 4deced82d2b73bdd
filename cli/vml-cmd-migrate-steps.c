/* vml-cmd-migrate-steps.c: the Transfer steps "vmleasectl migrate" sends,
 * each noted as it ends (text, or --json), and the options they take.
 * See vml-cmd-migrate.h. */
#include "config.h"

#include <stdio.h>

#include "vml-cmd-migrate.h"

/* Says where @error happened ("prepare on host 2 (destination): ..."),
 * keeping what its exit status is taken from: the error domain and code,
 * or the D-Bus error name of an error GLib has no code for. */
void
migrate_side_error (Side        *side,
            GError     **error,
            const char  *where)
{
  GError *e = *error;

  if (e->domain == G_DBUS_ERROR &&
      vml_cli_exit_code (e) == VML_EXIT_UNREACHABLE)
    {
      g_dbus_error_strip_remote_error (e);
      *error = g_error_new (VML_CLI_ERROR, VML_CLI_ERROR_UNREACHABLE,
                            "%s: vmleased is not running on %s's bus %s (%s)",
                            where, side->label, side->cli->address, e->message);
      g_error_free (e);
      return;
    }
  if (e->domain == VMLEASE_ERROR || e->domain == G_DBUS_ERROR)
    g_dbus_error_strip_remote_error (e);
  else if (g_dbus_error_is_remote_error (e))
    return;   /* the name is in the message, and the exit status with it */
  g_prefix_error (error, "%s: ", where);
}

static void
note_step (Migration    *m,
           const char   *step,
           Side         *side,
           gint64        sent,
           gint64        answered,
           const GError *error,
           gboolean      recovery)
{
  double ms = (double) (answered - sent) / 1000.0;

  if (m->cli->json)
    {
      json_builder_begin_object (m->steps);
      json_builder_set_member_name (m->steps, "step");
      json_builder_add_string_value (m->steps, step);
      json_builder_set_member_name (m->steps, "side");
      json_builder_add_string_value (m->steps, side->role);
      json_builder_set_member_name (m->steps, "host");
      json_builder_add_string_value (m->steps, side->label);
      json_builder_set_member_name (m->steps, "start_ms");
      json_builder_add_double_value (m->steps, (double) (sent - m->started) / 1000.0);
      json_builder_set_member_name (m->steps, "ms");
      json_builder_add_double_value (m->steps, ms);
      json_builder_set_member_name (m->steps, "recovery");
      json_builder_add_boolean_value (m->steps, recovery);
      json_builder_set_member_name (m->steps, "ok");
      json_builder_add_boolean_value (m->steps, error == NULL);
      if (error != NULL)
        {
          g_autofree char *name = vml_cli_error_dbus_name (error);

          json_builder_set_member_name (m->steps, "error");
          json_builder_add_string_value (m->steps, name ? name : "");
          json_builder_set_member_name (m->steps, "message");
          json_builder_add_string_value (m->steps, error->message);
        }
      json_builder_end_object (m->steps);
      return;
    }
  if (error == NULL)
    g_print ("  %-8s on %-12s %9.3f ms%s\n", step, side->label, ms,
             recovery ? "   (recovery)" : "");
  else
    g_print ("  %-8s on %-12s %9.3f ms   FAILED%s\n", step, side->label, ms,
             recovery ? " (recovery)" : "");
  fflush (stdout);
}

/* One Transfer step on @side, sent; step_end() waits for its answer. Two
 * may be in flight at once (--pipelined): each keeps its own answer and
 * the time it came. */
void
step_call_free (StepCall *call)
{
  g_clear_pointer (&call->wait, vml_cli_wait_free);
  g_free (call);
}

static void
on_step_answered (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  StepCall *call = user_data;

  call->answered = g_get_monotonic_time ();
  vml_cli_wait_done (source, result, call->wait);
}

StepCall *
step_send (Migration              *m,
           Side                   *side,
           VmleaseTransferStep     step,
           const char             *token,
           VmleaseTransferOptions *options,
           StepFlags               flags)
{
  g_autoptr(VmleaseTransferOptions) opts = options;
  g_autoptr(GEnumClass) steps = g_type_class_ref (VMLEASE_TYPE_TRANSFER_STEP);
  gboolean waits = opts != NULL && vmlease_transfer_options_get_wait (opts) > 0;
  StepCall *call = g_new0 (StepCall, 1);

  call->m = m;
  call->side = side;
  call->name = g_enum_get_value (steps, step)->value_nick;
  call->recovery = (flags & STEP_RECOVERY) != 0;
  call->wait = vml_cli_wait_new (waits ? VML_CLI_TIMEOUT_LONG : VML_CLI_TIMEOUT_CHANGE,
                                 "Transfer %s on %s", call->name, side->label);
  call->sent = g_get_monotonic_time ();
  vmlease_lease_transfer (side->lease, step, token, opts, vml_cli_wait_cancellable (call->wait),
                          on_step_answered, call);
  return call;
}

/* The next token, or NULL with @error set (its message says which step on
 * which host failed). */
char *
step_end (StepCall  *call,
          GError   **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *where = NULL;
  Side *side = call->side;
  char *next;

  next = vmlease_lease_transfer_finish (side->lease, vml_cli_wait_run (call->wait),
                                        &local_error);
  vml_cli_wait_end (call->wait, next != NULL, &local_error);
  note_step (call->m, call->name, side, call->sent, call->answered, local_error,
             call->recovery);
  if (next != NULL)
    return next;

  where = g_strdup_printf ("%s on %s (%s)", call->name, side->label, side->role);
  migrate_side_error (side, &local_error, where);
  if (call->recovery)
    g_printerr ("vmleasectl: %s\n", local_error->message);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

char *
run_step (Migration              *m,
          Side                   *side,
          VmleaseTransferStep     step,
          const char             *token,
          VmleaseTransferOptions *options,
          StepFlags               flags,
          GError                **error)
{
  g_autoptr(StepCall) call = step_send (m, side, step, token, options, flags);

  return step_end (call, error);
}

/* (transfer full) Options of the source's undoing: its --wait, and
 * (@failure) the migration failed. */
VmleaseTransferOptions *
undo_options (Migration *m,
              gboolean   failure)
{
  VmleaseTransferOptions *options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_wait (options, m->wait);
  vmlease_transfer_options_set_failure (options, failure);
  return options;
}

VmleaseTransferOptions *
perform_options (Migration *m)
{
  VmleaseTransferOptions *options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_postcopy (options, m->postcopy);
  return options;
}

VmleaseTransferOptions *
failure_options (void)
{
  VmleaseTransferOptions *options = vmlease_transfer_options_new ();

  vmlease_transfer_options_set_failure (options, TRUE);
  return options;
}
