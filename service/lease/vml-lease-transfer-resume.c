/* vml-lease-transfer-resume.c: Transfer prepare and finish {resume: true}.
 * The migrated guest waits paused (-S) for a "cont" that may only come once
 * finish may answer (the source let go). A caller that sends it after
 * finish's answer adds a round trip through D-Bus and back to QEMU to the
 * guest's pause; with resume, vmleased sends it through the VM's QMP socket
 * (prepare's or finish's "qmp", the destination QEMU's), right after
 * finish's work is recorded, and answers once QEMU says the guest runs
 * (RESUME). A "cont" that comes while the incoming migration still runs
 * makes QEMU start the guest the moment it completes.
 *
 * The connection (greeting, capabilities) is made by prepare {resume},
 * while QEMU only waits for the migration, and kept by the lease
 * (transfer_qmp) for finish; a QEMU loading a migration answers a new
 * client slowly. Without one (a restart of vmleased since, or a finish that
 * names another QEMU), finish's worker makes it before it looks at
 * storage. If it cannot be made, the step fails before anything changed.
 * If QEMU does not take the "cont", finish still answers (the lease is this
 * host's) and logs why: the caller's own "cont" is still due, as without
 * resume. docs/decisions.md "finish side by side with perform". */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

/* How long connecting, and then the "cont", may each take. */
#define RESUME_QMP_TIMEOUT_MS 2000
/* How long finish waits, after QEMU took the "cont", for the guest to
 * run: a pre-copy migration completes the moment its last pages are in
 * (the source's guest stopped before perform let go). */
#define RESUME_EVENT_TIMEOUT_MS 10000

gboolean
transfer_resume_check (VmlLease *self, StepData *data, GError **error)
{
  if (!data->resume)
    return TRUE;
  if (!data->success)
    {
      g_set_error_literal (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                           "resume starts the guest after a finish that worked; a finish with "
                           "success false gives the lease up");
      return FALSE;
    }
  if (data->fence_qmp == NULL || data->fence_qmp[0] == '\0' || data->fence_pid == 0)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "resume needs the destination QEMU's pid and QMP socket for the lease of "
                   "%s: give pid and qmp at prepare, or at this finish", self->uuid);
      return FALSE;
    }
  return TRUE;
}

/* thread */
gboolean
transfer_resume_connect (VmlLease *self, StepData *data, GError **error)
{
  char why[256];

  if (!data->resume || data->qmp != NULL)
    return TRUE;
  data->qmp = vml_qmp_open (data->fence_qmp, data->fence_pid, RESUME_QMP_TIMEOUT_MS, why,
                            sizeof why);
  if (data->qmp != NULL)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_FAILED,
               "cannot reach the guest's QEMU to resume it (%s): %s; nothing was changed "
               "(leave resume out, and send cont yourself once finish answered)",
               data->fence_qmp, why);
  return FALSE;
}

/* thread: QEMU's answer to the "cont" sent from the main loop */
static void
resume_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  StepData *data = task_data;
  char why[256];

  if (vml_qmp_wait_return (data->qmp, "cont", RESUME_QMP_TIMEOUT_MS, why, sizeof why) != 0)
    data->resume_failed = g_strdup (why);
  else if (vml_qmp_wait_event (data->qmp, "RESUME", RESUME_EVENT_TIMEOUT_MS, why,
                               sizeof why) != 0)
    data->resume_failed = g_strdup_printf ("QEMU took the cont, but the guest did not run "
                                           "(%s): did its migration complete?", why);
  g_clear_pointer (&data->qmp, vml_qmp_close);
  g_task_return_boolean (task, TRUE);
}

static void
answer_resumed (VmlLease *self, GTask *op)
{
  StepData *data = g_task_get_task_data (op);

  if (data->resume_failed != NULL)
    vml_log (G_LOG_LEVEL_WARNING, LEASE_ABOUT (self, .host_id = data->token->source),
             "Transfer finish of %s: the lease is this host's, but the guest was not resumed "
             "through %s: %s", self->uuid, data->fence_qmp, data->resume_failed);
  else
    vml_log (G_LOG_LEVEL_DEBUG, LEASE_ABOUT (self, .host_id = data->token->source),
             "Transfer finish of %s: the guest resumes (cont through %s)", self->uuid,
             data->fence_qmp);
  lease_finish_op (self, g_variant_new_take_string (g_steal_pointer (&data->next)), NULL);
}

static void
on_resumed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  answer_resumed (VML_LEASE (source), G_TASK (user_data));
}

/* The "cont" goes out from here, the moment finish's work is recorded: a
 * line into the monitor's socket, without waiting (the worker waits for
 * QEMU's answer). Not if the holder is gone: it took the lease with it,
 * and its fence (a pause, say) must not be undone. */
void
transfer_resume_then_answer (VmlLease *self, GTask *op, char *next)
{
  StepData *data = g_task_get_task_data (op);
  char why[256];

  data->next = next;
  if (data->qmp == NULL)
    data->resume_failed = g_strdup ("no connection to its monitor");
  else if (data->losses != self->losses || self->holder == NULL ||
           !vml_holder_is_alive (self->holder))
    data->resume_failed = g_strdup ("the lease's holder exited meanwhile; the guest stays "
                                    "paused");
  else if (vml_qmp_send (data->qmp, "cont", why, sizeof why) != 0)
    data->resume_failed = g_strdup (why);
  if (data->resume_failed != NULL)
    {
      g_clear_pointer (&data->qmp, vml_qmp_close);
      answer_resumed (self, op);
      return;
    }
  lease_op_work_in_thread (self, op, resume_thread, on_resumed);
}
