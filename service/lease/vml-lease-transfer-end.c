/* vml-lease-transfer-end.c: how a hand-off ends on each side — confirm
 * (source: forget it, or take the lease back after a failure) and cancel
 * (either side, before the point of no return: undo this side), with the
 * source's take-back. Each a check on the main loop, work in a worker
 * thread, and what is applied once it worked, as the other steps in
 * vml-lease-transfer-steps.c, whose table names these. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

/* The source takes the lease back exclusively, refusing if anyone else
 * took it since this host let go (the lease version would differ). */
static gboolean
take_back (VmlLease *self, StepData *data, GError **error)
{
  VmlHolder *holder = data->held_by;
  g_autoptr(GError) local_error = NULL;

  if (!lease_is_free_by (self, data->deadline, data->wait_s, data->peer, &data->again, error))
    return FALSE;
  if (holder == NULL || !vml_holder_is_alive (holder))
    {
      /* The holder died meanwhile: a new one, claimed for this lease. */
      data->holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                       VML_HOLDER_FOR_LEASE, error);
      if (data->holder == NULL ||
          !vml_holder_claim (data->holder, self->uuid, data->fence, data->fence_pid,
                             data->fence_qmp, error))
        return FALSE;
      holder = data->holder;
    }
  if (!lease_sanlock_acquire (self->sanlock, holder, FALSE, data->transfer_lver, &data->lver,
                              &local_error))
    {
      /* Nobody held it a moment ago, so a refusal means its version moved:
       * someone took it meanwhile. This hand-off cannot end any other way. */
      data->taken_meanwhile = g_error_matches (local_error, VML_ERROR, VML_ERROR_BUSY);
      if (data->taken_meanwhile)
        lease_sanlock_marker_drop (self->sanlock, holder);   /* nothing left to hand off */
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "cannot take the lease back: ");
      return FALSE;
    }
  lease_sanlock_marker_drop (self->sanlock, data->held_by);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* confirm (source) and cancel (either side)                              */

static gboolean
refuse_if_committed (VmlLease *self, StepData *data, const char *step, GError **error)
{
  /* Only while this host is still the source that committed: not once it
   * holds the lease again (an Acquire since), nor in another hand-off. */
  if (self->transfer.committed == NULL || self->transfer.role != TRANSFER_NONE ||
      lease_state_has_holder (self->state))
    return TRUE;
  if (data->token != NULL && g_strcmp0 (data->token->transfer_id, self->transfer.committed) != 0)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_COMMITTED,
               "cannot %s: the post-copy hand-off %s passed its point of no return at perform; "
               "the lease belongs to the destination now", step, self->transfer.committed);
  return FALSE;
}

/* confirm {success: true} with the token of finish after a post-copy
 * perform: nothing is left to do but to say so (and let the marker go). */
static gboolean
confirms_committed (VmlLease *self, StepData *data)
{
  return self->transfer.committed != NULL && self->transfer.role == TRANSFER_NONE &&
         data->success && data->token != NULL &&
         g_strcmp0 (data->token->transfer_id, self->transfer.committed) == 0;
}

/* confirm with success given the source's own T3: finish's answer was
 * lost (checked own by transfer_check_confirm) */
static gboolean
confirms_with_perform_token (const StepData *data)
{
  return data->success && data->token != NULL && data->token->kind == VML_TOKEN_PERFORMED;
}

gboolean
transfer_check_confirm (VmlLease *self, StepData *data, GError **error)
{
  if (confirms_committed (self, data))
    {
      if (!transfer_token_answers_committed (self, data, error))
        return FALSE;
      if (!data->token->success)
        return refuse_if_committed (self, data, "confirm", error);
      g_set_object (&data->held_by, self->marker_holder);
      return TRUE;
    }
  if (!refuse_if_committed (self, data, "confirm", error))
    return FALSE;
  if (self->transfer.role != TRANSFER_SOURCE)
    return transfer_wrong_step (error, "confirm runs on the source; no hand-off of %s started here",
                                self->uuid);
  /* Before perform only a failure can be confirmed (the destination died
   * after prepare, say): it takes the lease back like cancel. */
  if (g_strcmp0 (self->transfer.step, "perform") != 0 && (data->success || data->token != NULL))
    return transfer_wrong_step (error,
                                "confirm with success follows perform; perform was not done yet "
                                "(confirm with success false and no token, or cancel, to give up)");
  if (data->token == NULL)
    {
      if (data->success)
        return transfer_stale (error, "confirming success needs the token of finish (or, if "
                               "finish's answer was lost, perform's)");
      return TRUE;
    }
  /* finish's answer lost (the destination's vmleased died before it): the
   * source's own T3 stands in for T4, and storage must show what T4 would
   * have said (transfer_work_confirm) */
  if (confirms_with_perform_token (data))
    return transfer_token_is_own (self, data, VML_TOKEN_PERFORMED, error);
  if (!transfer_token_answers_mine (self, data, "confirm", VML_TOKEN_FINISHED,
                                    VML_TOKEN_PERFORMED, error))
    return FALSE;
  if (data->token->success != data->success)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_INVALID_ARGUMENT,
                   "the destination's finish reported %s, but confirm was told %s",
                   data->token->success ? "success" : "failure",
                   data->success ? "success" : "failure");
      return FALSE;
    }
  return TRUE;
}

/* How long confirm with success waits, at least, for the destination's
 * conversion after its finish answered (it takes milliseconds; it gives up
 * after CONVERT_GIVE_UP_S of refusals, vml-lease-transfer-convert.c). */
#define CONFIRM_CONVERSION_WAIT_S 20
#define CONFIRM_CONVERSION_POLL_MS 10

gboolean
transfer_work_confirm (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = NULL;
  guint64 dest;

  if (!data->success)
    return transfer_work_cancel (self, data, error);
  owners = lease_sanlock_read_owners (self->sanlock, error);
  if (owners == NULL)
    return FALSE;
  dest = data->role == TRANSFER_NONE ? data->token->dest : data->peer;
  /* with T4 finish answered, and its conversion is under way (a few ms):
   * look again soon. With perform's T3 nothing says finish ran: Busy now */
  if (!confirms_with_perform_token (data) && owners->owner != dest && owners->owners_live &&
      lease_owners_hold_shared (owners, dest) &&
      g_get_monotonic_time () < MAX (data->deadline,
                                     data->started + CONFIRM_CONVERSION_WAIT_S * G_USEC_PER_SEC))
    {
      data->again = TRUE;
      data->again_ms = CONFIRM_CONVERSION_POLL_MS;
      return FALSE;
    }
  if (owners->owner != dest)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "host %" G_GUINT64_FORMAT " does not hold the lease exclusively yet; run "
                   "finish there first", data->role == TRANSFER_NONE ? data->token->dest
                                                                      : data->peer);
      return FALSE;
    }
  /* without T4, storage alone says the destination finished: it holds the
   * lease exclusively in the incarnation that prepared */
  if (confirms_with_perform_token (data) && owners->owner_generation != data->token->dest_gen)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN,
                   "the token does not fit: host %" G_GUINT64_FORMAT " holds the lease in "
                   "generation %" G_GUINT64_FORMAT ", not in generation %" G_GUINT64_FORMAT
                   " that prepared: not this hand-off's finish", dest, owners->owner_generation,
                   data->token->dest_gen);
      return FALSE;
    }
  /* the disks only this side named (non-shared storage migration) */
  if (!transfer_disks_let_go (self, data, TRUE, error))
    return FALSE;
  lease_sanlock_marker_drop (self->sanlock, data->held_by);
  return TRUE;
}

/* The hand-off ends here, said as @what: this side lets go (@let_go: the
 * other side holds the lease), or the source holds it exclusively again
 * with its disks. The answer is no token. */
static char *
end_here (VmlLease *self, StepData *data, gboolean let_go, const char *what)
{
  transfer_log_step (self, what);
  if (let_go)
    transfer_let_go (self);
  else
    {
      transfer_source_holds_again (self, data);
      transfer_disks_apply (self, data);
    }
  lease_save_or_warn (self);
  return g_strdup ("");
}

char *
transfer_done_confirm (VmlLease *self, StepData *data)
{
  if (self->transfer.role == TRANSFER_NONE)
    {
      transfer_log_step (self, "confirmed (post-copy): the destination holds it");
      transfer_marker_let_go (self);
      return g_strdup ("");
    }
  return end_here (self, data, data->success,
                   data->success ? "confirmed: the destination holds it"
                                 : "confirmed failure: held exclusively here again");
}

gboolean
transfer_check_cancel (VmlLease *self, StepData *data, GError **error)
{
  if (!refuse_if_committed (self, data, "cancel", error))
    return FALSE;
  if (self->transfer.role == TRANSFER_NONE)
    return transfer_wrong_step (error, "no hand-off of %s is in progress here", self->uuid);
  return data->token == NULL || (transfer_token_is_for_this_lease (self, data->token, error) &&
                                 transfer_token_is_for_this_transfer (self, data->token, error));
}

/* After begin: shared → exclusive, once the destination let go. Waiting
 * is a read-only look at the owners: every refused convert would be a
 * paxos round on storage and raise the lease version. While it waits, the
 * step comes back here every WAIT_POLL_MS from a main-loop timer. */
static gboolean
convert_back (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(VmlLeaseOwners) owners = lease_sanlock_read_owners (self->sanlock, NULL);
  gboolean waiting = g_get_monotonic_time () < data->deadline;

  if (owners != NULL && lease_someone_else_shares (self, owners) && waiting)
    {
      data->again = TRUE;
      return FALSE;
    }
  if (lease_sanlock_convert (self->sanlock, data->held_by, FALSE, &local_error) &&
      transfer_disks_to_exclusive (self, data, &local_error))
    {
      lease_sanlock_marker_drop (self->sanlock, data->held_by);
      return TRUE;
    }
  if (g_error_matches (local_error, VML_ERROR, VML_ERROR_BUSY) && waiting)
    {
      data->again = TRUE;
      return FALSE;
    }
  g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                              "cannot take the lease back exclusively (cancel the "
                              "destination's prepare first, or pass a wait): ");
  return FALSE;
}

gboolean
transfer_work_cancel (VmlLease *self, StepData *data, GError **error)
{
  if (data->role == TRANSFER_DESTINATION)
    return transfer_disks_let_go (self, data, FALSE, error) &&
           lease_sanlock_release (self->sanlock, data->held_by, error);
  if (data->after_perform)
    {
      if (!take_back (self, data, error))
        return FALSE;
      if (transfer_disks_take_back (self, data, error))
        return TRUE;
      /* A disk is gone elsewhere: the VM lease is let go again rather than
       * held without it; the hand-off stays where it was. */
      lease_sanlock_release (self->sanlock, data->holder ? data->holder : data->held_by, NULL);
      return FALSE;
    }
  return convert_back (self, data, error);
}

char *
transfer_done_cancel (VmlLease *self, StepData *data)
{
  gboolean destination = self->transfer.role == TRANSFER_DESTINATION;

  return end_here (self, data, destination,
                   destination ? "cancelled on the destination: let go"
                               : "cancelled on the source: held exclusively here again");
}
