/* vmlease-lease-wait.c: VmleaseLease's wait for lost, for programs
 * without a main loop of their own, and what a new holding resets. */
#include "vmlease-lease-private.h"

/* A new holding (Acquire, prepare): what the lease lost before is history
 * for vmlease_lease_wait_lost_sync. */
void
_vmlease_lease_taken (VmleaseLease *self)
{
  self->lost_pending = FALSE;
}

/* --- waiting -------------------------------------------------------------- */

static gboolean
on_wait_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
on_wait_cancelled (GCancellable *cancellable, gpointer user_data)
{
  return G_SOURCE_REMOVE;
}

/**
 * vmlease_lease_wait_lost_sync:
 * @self: the lease
 * @timeout_ms: how long to wait, in milliseconds
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the main context the lease's signals arrive in until
 * [signal@Vmlease.Lease::lost] has been emitted since the lease was last
 * taken here (Acquire, or a Transfer prepare); the handlers connected to
 * it, and every other signal and property change, are dispatched meanwhile.
 * Returns at once if it was emitted already. For programs without a main
 * loop of their own (a script, a command-line tool); call it from the
 * thread that made the [class@Vmlease.Client].
 *
 * Returns: %TRUE once the lease was lost; %FALSE with
 *   %G_IO_ERROR_TIMED_OUT after @timeout_ms, %G_IO_ERROR_CANCELLED, or
 *   %G_IO_ERROR_BUSY when another thread runs that main context
 */
gboolean
vmlease_lease_wait_lost_sync (VmleaseLease *self, guint timeout_ms,
                              GCancellable *cancellable, GError **error)
{
  gboolean timed_out = FALSE;
  g_autoptr(GSource) timeout = NULL;
  g_autoptr(GSource) cancel = NULL;

  g_return_val_if_fail (VMLEASE_IS_LEASE (self), FALSE);

  /* Another thread runs that context: it dispatches the signal itself, and
   * iterating it from here would return at once, again and again. */
  if (!g_main_context_acquire (self->context))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   "the lease's main context runs in another thread: connect to its "
                   "lost signal there instead");
      return FALSE;
    }
  timeout = g_timeout_source_new (timeout_ms);
  g_source_set_callback (timeout, on_wait_timeout, &timed_out, NULL);
  g_source_attach (timeout, self->context);
  if (cancellable != NULL)
    {
      cancel = g_cancellable_source_new (cancellable);
      g_source_set_callback (cancel, G_SOURCE_FUNC (on_wait_cancelled), NULL, NULL);
      g_source_attach (cancel, self->context);
    }
  g_object_ref (self);
  while (!self->lost_pending && !timed_out && !g_cancellable_is_cancelled (cancellable))
    g_main_context_iteration (self->context, TRUE);
  g_source_destroy (timeout);
  if (cancel != NULL)
    g_source_destroy (cancel);
  g_main_context_release (self->context);

  if (self->lost_pending)
    {
      g_object_unref (self);
      return TRUE;
    }
  g_object_unref (self);
  if (!g_cancellable_set_error_if_cancelled (cancellable, error))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "the lease was not lost within %u ms", timeout_ms);
  return FALSE;
}
