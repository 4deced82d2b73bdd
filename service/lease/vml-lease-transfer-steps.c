/* vml-lease-transfer-steps.c: the six steps of Transfer — begin, prepare,
 * perform, finish, confirm and cancel (with the source's take-back) — each
 * a check on the main loop (order, side, token: nothing has changed if it
 * fails), its work in a worker thread (through the lease's sanlock door),
 * and what is applied on the main loop once it worked, with the next
 * token. Running a step is vml-lease-transfer.c's. */
#include "config.h"

#include "vml-error.h"
#include "vml-fault.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

/* ---------------------------------------------------------------------- */
/* begin (source): exclusive → shared here                                */

static gboolean
check_begin (VmlLease *self, StepData *data, GError **error)
{
  if (data->token != NULL)
    return transfer_wrong_step (error, "begin starts a hand-off and takes no token");
  if (self->transfer.role != TRANSFER_NONE)
    return transfer_wrong_step (error,
                                "a hand-off of %s is already in progress here (%s, after %s); "
                                "finish or cancel it first", self->uuid,
                                vml_transfer_role_name (self->transfer.role), self->transfer.step);
  if (self->state != LEASE_HELD)
    return transfer_wrong_step (error, "begin needs the lease of %s held exclusively on this host; "
                                "it is %s", self->uuid, lease_state_names[self->state]);
  return TRUE;
}

/* thread: T1, for the hand-off data->transfer_id */
static char *
issue_begun (VmlLease *self, StepData *data)
{
  g_autoptr(VmlToken) t1 = g_new0 (VmlToken, 1);

  t1->kind = VML_TOKEN_BEGUN;
  t1->transfer_id = g_strdup (data->transfer_id);
  t1->source = lease_my_host_id (self);
  t1->source_gen = data->my_gen;
  t1->lver = data->lver;
  t1->disks = transfer_disks_variant (data->disks);
  return transfer_issue (self, t1, NULL);
}

static gboolean
work_begin (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = lease_sanlock_read_owners (self->sanlock, error);
  g_autoptr(GError) local_error = NULL;
  gboolean live;

  /* Read first: once converted, nothing may fail any more. */
  if (owners == NULL ||
      !lease_sanlock_host_generation (self->sanlock, lease_my_host_id (self), &data->my_gen,
                                      &live, error))
    return FALSE;
  data->lver = owners->lver;
  if (!lease_sanlock_marker_take (self->sanlock, data->held_by, &local_error))
    {
      /* The lease's first hand-off: the marker is made under the index
       * lock, from the main loop (on_step_done), then begin runs again. */
      data->needs_marker = !data->marker_made &&
                           g_error_matches (local_error, VML_ERROR, VML_ERROR_NOT_FOUND);
      if (!data->needs_marker)
        g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  data->transfer_id = vml_token_new_transfer_id ();
  data->issued = issue_begun (self, data);
  if (data->issued == NULL || !lease_sanlock_note_begin (self->sanlock, data->issued, error) ||
      !transfer_disks_to_shared (self, data, error))
    {
      if (data->issued == NULL)
        g_set_error_literal (error, VML_ERROR, VML_ERROR_FAILED,
                             "cannot sign the begin token (see the log)");
      lease_sanlock_marker_drop (self->sanlock, data->held_by);
      return FALSE;
    }
  /* The disks first, the VM lease last: a VM lease shared means every
   * disk of it is shared too. */
  if (!lease_sanlock_convert (self->sanlock, data->held_by, TRUE, error))
    {
      transfer_disks_to_exclusive (self, data, NULL);
      lease_sanlock_marker_drop (self->sanlock, data->held_by);
      return FALSE;
    }
  return TRUE;
}

static char *
done_begin (VmlLease *self, StepData *data)
{
  g_clear_pointer (&self->transfer.committed, g_free);
  lease_transfer_set (self, TRANSFER_SOURCE, data->transfer_id, "begin", 0);
  self->mode = VML_MODE_SHARED;
  lease_set_state (self, LEASE_MIGRATING_OUT);
  lease_publish_holding (self);
  vml_dbus_lease_set_owner (self->iface, 0);
  lease_save_or_warn (self);
  transfer_log_step (self, "begun: exclusive → shared");
  return g_steal_pointer (&data->issued);
}

/* ---------------------------------------------------------------------- */
/* prepare (destination): check T1 against storage, take the lease shared */

static gboolean
check_prepare (VmlLease *self, StepData *data, GError **error)
{
  if (!transfer_token_is_of_kind (data->token, VML_TOKEN_BEGUN, "prepare", error) ||
      !transfer_token_is_for_this_lease (self, data->token, error))
    return FALSE;
  if (data->token->source == lease_my_host_id (self))
    return transfer_wrong_step (error,
                                "prepare runs on the destination; this host (%" G_GUINT64_FORMAT
                                ") is the source of that hand-off", lease_my_host_id (self));
  if (self->transfer.role != TRANSFER_NONE)
    return transfer_wrong_step (error,
                                "a hand-off of %s is already in progress here (%s, after %s)",
                                self->uuid, vml_transfer_role_name (self->transfer.role),
                                self->transfer.step);
  if (self->state != LEASE_FREE && self->state != LEASE_LOST)
    return transfer_wrong_step (error,
                                "prepare needs the lease of %s not held on this host; it is %s",
                                self->uuid, lease_state_names[self->state]);
  return transfer_resume_check (self, data, error) && lease_lockspace_ready (self, error);
}

static gboolean
work_prepare (VmlLease *self, StepData *data, GError **error)
{
  const VmlToken *t1 = data->token;
  g_autoptr(VmlLeaseOwners) owners = lease_sanlock_read_owners (self->sanlock, error);
  guint64 gen;
  gboolean live;

  if (owners == NULL ||
      !lease_sanlock_host_generation (self->sanlock, t1->source, &gen, &live, error) ||
      !transfer_resume_connect (self, data, error))
    return FALSE;
  if (!live || gen != t1->source_gen)
    return transfer_stale (error,
                           "the source host it names is not running the incarnation that issued "
                           "it (it restarted, or died)");
  if (owners->owner != 0 || !lease_owners_hold_shared (owners, t1->source))
    return transfer_stale (error, "the source does not hold the lease shared as begin left it (an "
                           "outdated token, or the source cancelled)");
  /* A begin token serves one destination: another sharer means it was
   * used already (or someone else shares the lease, which would block
   * finish anyway). */
  for (guint i = 0; i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) != t1->source)
      {
        g_autofree char *why = g_strdup_printf ("host %" G_GUINT64_FORMAT " holds the lease "
                                                "shared besides the source: this begin token "
                                                "was used already",
                                                g_array_index (owners->shared_owners, guint64, i));
        return transfer_stale (error, why);
      }
  /* Only the begin token the source issued last, as it noted it on
   * storage: not one made up from what Inquire shows. */
  if (!lease_sanlock_note_vouches (self->sanlock, data->token_text, t1->source, error) ||
      !lease_sanlock_host_generation (self->sanlock, lease_my_host_id (self), &data->my_gen,
                                      &live, error))
    return FALSE;
  if (data->holder == NULL)
    data->holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                     VML_HOLDER_FOR_LEASE, error);
  if (data->holder == NULL ||
      !vml_holder_claim (data->holder, self->uuid, data->fence, data->fence_pid,
                         data->fence_qmp, error) ||
      !lease_sanlock_acquire (self->sanlock, data->holder, TRUE, 0, &data->lver, error))
    return FALSE;
  /* All or nothing, with the VM lease. */
  if (data->disks != NULL && data->disks->len > 0 &&
      !lease_disks_take (self, NULL, data->disks, data->disk_holders, data->fence,
                         data->fence_pid, data->fence_qmp, error))
    {
      lease_sanlock_release (self->sanlock, data->holder, NULL);
      return FALSE;
    }
  return TRUE;
}

static char *
done_prepare (VmlLease *self, StepData *data)
{
  const VmlToken *t1 = data->token;
  g_autoptr(VmlToken) t2 = g_new0 (VmlToken, 1);

  g_clear_object (&self->acquiring_holder);
  lease_adopt_holder (self, g_steal_pointer (&data->holder));
  g_clear_pointer (&self->transfer.committed, g_free);
  lease_transfer_set (self, TRANSFER_DESTINATION, t1->transfer_id, "prepare", t1->source);
  self->mode = VML_MODE_SHARED;
  self->fence = data->fence;
  g_free (self->fence_qmp);
  self->fence_qmp = g_strdup (data->fence_qmp);
  lease_take_fence_target (self, data->fence_pid, &data->target);
  vml_qmp_close (self->transfer_qmp);
  self->transfer_qmp = g_steal_pointer (&data->qmp);
  self->owner_uid = data->uid;
  self->lver = data->lver;
  lease_set_state (self, LEASE_MIGRATING_IN);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  lease_storage_warn_if_failing (self);
  transfer_log_step (self, "prepared: holding it shared");

  t2->kind = VML_TOKEN_PREPARED;
  t2->source = t1->source;
  t2->source_gen = t1->source_gen;
  t2->dest = lease_my_host_id (self);
  t2->dest_gen = data->my_gen;
  t2->lver = data->lver;
  t2->disks = transfer_disks_variant (data->disks);
  transfer_disks_apply (self, data);
  lease_save_or_warn (self);
  return transfer_issue (self, t2, t1->raw);
}

/* ---------------------------------------------------------------------- */
/* perform (source): let go of the shared hold; post-copy: for good       */

static gboolean
check_perform (VmlLease *self, StepData *data, GError **error)
{
  if (self->transfer.role != TRANSFER_SOURCE)
    return transfer_wrong_step (error, "perform runs on the source after begin; no hand-off of %s "
                                "started here", self->uuid);
  if (g_strcmp0 (self->transfer.step, "begin") != 0)
    return transfer_wrong_step (error,
                                "perform was already done for this hand-off; next is confirm "
                                "(or cancel)");
  if (!transfer_token_answers_mine (self, data, "perform", VML_TOKEN_PREPARED,
                                    VML_TOKEN_BEGUN, error))
    return FALSE;
  if (data->token->source != lease_my_host_id (self) ||
      data->token->dest == lease_my_host_id (self))
    return transfer_stale (error, "its hosts do not match this hand-off");
  /* The destination wrote dest and dest_gen, signed with its own key, which
   * this host cannot check: they are a claim, proven against storage and
   * sanlock by work_perform. Here only what no real host can be. */
  if (data->token->dest < 1 ||
      data->token->dest > lease_sanlock_max_host_id (self->sanlock) ||
      data->token->dest_gen == 0)
    return transfer_stale (error, "it names no host of this lockspace as the destination");
  return TRUE;
}

/* Whether the destination, in the incarnation named by the token, holds the
 * lease shared, and the lease version (a release leaves it as it is): two
 * sectors read in the blackout instead of the whole lease area. Where direct
 * reads do not work, ask sanlock. */
static gboolean
destination_holds_shared (VmlLease *self, const VmlToken *t2, guint64 *lver, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(VmlLeaseOwners) owners = NULL;
  gboolean shared;
  guint64 generation;

  if (lease_sanlock_read_mode_block (self->sanlock, t2->dest, &shared, &generation, lver,
                                     &local_error))
    return shared && generation == t2->dest_gen;
  vml_log (G_LOG_LEVEL_DEBUG, LEASE_ABOUT (self, .host_id = t2->dest),
           "%s: %s; reading the owners through sanlock", self->uuid, local_error->message);
  owners = lease_sanlock_read_owners (self->sanlock, error);
  if (owners == NULL)
    return FALSE;
  *lver = owners->lver;
  return lease_owners_hold_shared (owners, t2->dest);
}

/* The destination the token names is a live host of the lockspace, in the
 * incarnation (generation) that took the lease shared: a mode block alone
 * could be a dead incarnation's, which sanlock no longer counts. */
static gboolean
destination_is_live (VmlLease *self, const VmlToken *t2, GError **error)
{
  guint64 gen;
  gboolean live;

  if (!lease_sanlock_host_generation (self->sanlock, t2->dest, &gen, &live, error))
    return FALSE;
  if (live && gen == t2->dest_gen)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN,
               "the token does not fit: host %" G_GUINT64_FORMAT " is %s (generation %"
               G_GUINT64_FORMAT "), not the incarnation (generation %" G_GUINT64_FORMAT
               ") that prepared; letting go now could leave the lease to nobody",
               t2->dest, live ? "live" : "not live", gen, t2->dest_gen);
  return FALSE;
}

static gboolean
work_perform (VmlLease *self, StepData *data, GError **error)
{
  GError *local_error = NULL;

  if (data->checked)
    goto release;
  /* Never let go unless the destination holds it: no moment without a holder. */
  if (!destination_is_live (self, data->token, error))
    return FALSE;
  if (!destination_holds_shared (self, data->token, &data->lver, &local_error))
    {
      if (local_error != NULL)
        g_propagate_error (error, local_error);
      else
        g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                     "the destination, host %" G_GUINT64_FORMAT ", does not hold the lease "
                     "shared; letting go now would leave it to nobody", data->token->dest);
      return FALSE;
    }
  data->checked = TRUE;
  /* The write-ahead (start_step) named the version T2 claims; storage
   * says another (someone's attempt meanwhile): recorded again on the main
   * loop, then back here. */
  if (data->lver != data->written_lver)
    {
      data->write_ahead = TRUE;
      return TRUE;
    }

release:
  /* The disks the destination holds go first (each checked held there),
   * then the VM lease: the destination holds it all by then. Post-copy:
   * the marker stays until the destination finished
   * (vml-lease-transfer-marker.c), off the blackout. */
  return transfer_disks_perform (self, data, error) &&
         lease_sanlock_release (self->sanlock, data->held_by, error);
}

void
perform_write_ahead (VmlLease *self, StepData *data)
{
  lease_transfer_set (self, TRANSFER_SOURCE, self->transfer.id, "performing",
                      data->token->dest);
  self->transfer.lver = data->lver;
  data->written_ahead = TRUE;
  data->written_lver = data->lver;
  lease_save_or_warn (self);
  vml_crash_point ("transfer.performing");
}

void
perform_undo_write_ahead (VmlLease *self)
{
  if (self->transfer.role != TRANSFER_SOURCE ||
      g_strcmp0 (self->transfer.step, "performing") != 0)
    return;   /* a loss meanwhile ended the hand-off here */
  lease_transfer_set (self, TRANSFER_SOURCE, self->transfer.id, "begin", self->transfer.peer);
  lease_save_or_warn (self);
}

static char *
done_perform (VmlLease *self, StepData *data)
{
  char *next;

  /* released; the record still says "performing" (finding 1, docs/model.md) */
  vml_crash_point ("transfer.performed");
  next = transfer_issue_answer (self, VML_TOKEN_PERFORMED, data);

  lease_transfer_set (self, TRANSFER_SOURCE, self->transfer.id, "perform", data->token->dest);
  self->transfer.postcopy = data->postcopy;
  transfer_disks_apply (self, data);
  self->transfer.lver = data->lver;
  vml_dbus_lease_set_mode (self->iface, "");
  if (data->postcopy)
    {
      /* The point of no return: this host is done with the lease. */
      transfer_log_step (self, "performed, post-copy: committed");
      self->transfer.committed = g_strdup (self->transfer.id);
      transfer_marker_keep (self, self->holder, data->token->dest);
      lease_drop_holder (self);
      transfer_let_go (self);
    }
  else
    transfer_log_step (self, "performed: let go, the destination holds it");
  lease_save_or_warn (self);
  return next;
}

/* ---------------------------------------------------------------------- */
/* finish (destination): shared → exclusive, or give it up                */

static gboolean
check_finish (VmlLease *self, StepData *data, GError **error)
{
  if (self->transfer.role != TRANSFER_DESTINATION)
    return transfer_wrong_step (error,
                                "finish runs on the destination after prepare; no hand-off of "
                                "%s is being received here", self->uuid);
  /* finish side by side with perform: with this host's own prepare token,
   * it waits for the source to let go (finish_may_return) */
  data->early = data->token != NULL && data->token->kind == VML_TOKEN_PREPARED;
  if (data->early ? !transfer_token_is_own (self, data, VML_TOKEN_PREPARED, error)
                  : !transfer_token_answers_mine (self, data, "finish", VML_TOKEN_PERFORMED,
                                                  VML_TOKEN_PREPARED, error))
    return FALSE;
  if (data->token->dest != lease_my_host_id (self))
    return transfer_stale (error, "it hands the lease to another host");
  return transfer_resume_check (self, data, error);
}

/* thread: whether the source, in the incarnation that began, still holds
 * its share on storage (its mode block; through sanlock where direct reads
 * do not work). */
static gboolean
source_still_shares (VmlLease *self, StepData *data, gboolean *shares, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(VmlLeaseOwners) owners = NULL;
  guint64 source_gen = 0, lver = 0;

  if (lease_sanlock_read_mode_block (self->sanlock, data->token->source, shares, &source_gen,
                                     &lver, &local_error))
    {
      *shares = *shares && source_gen == data->token->source_gen;
      return TRUE;
    }
  owners = lease_sanlock_read_owners (self->sanlock, error);
  if (owners == NULL)
    return FALSE;
  *shares = lease_owners_hold_shared (owners, data->token->source);
  return TRUE;
}

/* thread: a finish that came side by side with perform looks again soon,
 * while its `wait` lasts: every FINISH_POLL_US in this thread for the
 * first FINISH_FINE_POLL_MS (perform takes milliseconds, and the guest's
 * pause waits for this answer), then from the main loop, which sees a loss
 * or a caller that left meanwhile: every FINISH_SLOW_POLL_MS up to a
 * second, every FINISH_SLOWER_POLL_MS after that (a finish sent long
 * before perform should not read storage a hundred times a second). */
#define FINISH_POLL_US 1000
#define FINISH_FINE_POLL_MS 50
#define FINISH_SLOW_POLL_MS 10
#define FINISH_SLOWER_POLL_MS 100

static gboolean
finish_waits_for_perform (StepData *data)
{
  gint64 now = g_get_monotonic_time ();

  if (!data->early || now >= data->deadline)
    return FALSE;
  if (now - data->started >= FINISH_FINE_POLL_MS * 1000)
    {
      data->again = TRUE;
      data->again_ms = now - data->started < G_USEC_PER_SEC ? FINISH_SLOW_POLL_MS
                                                            : FINISH_SLOWER_POLL_MS;
      data->waited_across = TRUE;
      return FALSE;
    }
  g_usleep (FINISH_POLL_US);
  return TRUE;
}

/* thread: this host's holder holds its share, under the host generation
 * that prepared (the one T2, carried in T3, names). */
static gboolean
finish_holds_its_share (VmlLease *self, StepData *data, GError **error)
{
  gboolean held = FALSE, shared = FALSE, live = FALSE;
  guint64 gen = 0;

  if (!lease_sanlock_inquire_holder (self->sanlock, vml_holder_get_pid (data->held_by), &held,
                                     &shared, &data->lver, error))
    return FALSE;
  if (!held || !shared)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
                   "this host's holder does not hold the lease of %s shared (%s)", self->uuid,
                   held ? "it holds it exclusively" : "it holds nothing");
      return FALSE;
    }
  if (!lease_sanlock_host_generation (self->sanlock, lease_my_host_id (self), &gen, &live, error))
    return FALSE;
  if (!live || gen != data->token->dest_gen)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_NOT_HELD,
                   "this host is in generation %" G_GUINT64_FORMAT " (%s), not generation %"
                   G_GUINT64_FORMAT " that prepared: its share does not count",
                   gen, live ? "live" : "not live", data->token->dest_gen);
      return FALSE;
    }
  return TRUE;
}

/* thread: the guest may resume on this host's share: the source's share
 * is gone from storage, and this host holds its own share
 * (finish_holds_its_share). Then nobody can take the lease exclusively and
 * the marker keeps third hosts from sharing it, so the conversion to
 * exclusive can follow after the answer (vml-lease-transfer-convert.c;
 * docs/model.md checks this). Its own share is looked at first, so that a
 * finish that cannot work says so at once, and once more after a wait
 * across passes of the main loop; while it waits, only the source's mode
 * block is read. */
static gboolean
finish_may_return (VmlLease *self, StepData *data, GError **error)
{
  gboolean source_shares = TRUE;

  if (!data->share_checked && !finish_holds_its_share (self, data, error))
    return FALSE;
  data->share_checked = TRUE;
  if (!source_still_shares (self, data, &source_shares, error))
    return FALSE;
  while (source_shares && finish_waits_for_perform (data))
    if (!source_still_shares (self, data, &source_shares, error))
      return FALSE;
  if (source_shares)
    {
      if (!data->again)
        g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                     "the source, host %" G_GUINT64_FORMAT ", still holds the lease shared on "
                     "storage; run perform there first%s", data->token->source,
                     data->early ? (data->wait_s > 0 ? " (finish waited for it as long as its "
                                                       "wait said)"
                                                     : ", or give finish a wait")
                                 : "");
      return FALSE;
    }
  return !data->waited_across || finish_holds_its_share (self, data, error);
}

static gboolean
work_finish (VmlLease *self, StepData *data, GError **error)
{
  if (!data->success)
    return transfer_disks_let_go (self, data, FALSE, error) &&
           lease_sanlock_release (self->sanlock, data->held_by, error);
  if (data->fence_given &&
      (!transfer_disks_set_fence (self, data, error) ||
       !vml_holder_set_fence (data->held_by, data->fence, data->fence_pid, data->fence_qmp,
                              error)))
    return FALSE;
  /* the conversion follows the answer (done_finish) */
  return transfer_resume_connect (self, data, error) && finish_may_return (self, data, error);
}

static char *
done_finish (VmlLease *self, StepData *data)
{
  char *next = transfer_issue_answer (self, VML_TOKEN_FINISHED, data);

  transfer_log_step (self, data->success ? "finished: the sole share here, converting to "
                                           "exclusive" : "finished: failed, let go");
  if (data->success)
    {
      lease_transfer_clear (self);
      for (guint i = 0; i < self->disks->len; i++)
        ((LeaseDisk *) self->disks->pdata[i])->common = FALSE;
      if (data->lver != 0)
        self->lver = data->lver;
      if (data->fence_given)
        {
          self->fence = data->fence;
          g_free (self->fence_qmp);
          self->fence_qmp = g_strdup (data->fence_qmp);
          lease_take_fence_target (self, data->fence_pid, &data->target);
        }
      /* @fn start_conversion: queued behind this step, so it starts
       * once finish has answered */
      lease_set_state (self, LEASE_CONVERTING);
      lease_publish_holding (self);
      lease_save_or_warn (self);
      /* recorded; not answered, and with resume no "cont" sent yet */
      vml_crash_point ("transfer.finished");
      start_conversion (self);
      return next;
    }
  transfer_let_go (self);
  lease_save_or_warn (self);
  return next;
}

/* ---------------------------------------------------------------------- */
/* The steps, and running one                                             */

static const VmlOptionSpec no_options[] = { { NULL } };
static const VmlOptionSpec prepare_options[] = {
  { "pid", "u" }, { "fence", "s" }, { "qmp", "s" }, { "disks", "a(ss)" }, { "resume", "b" },
  { NULL }
};
static const VmlOptionSpec perform_options[] = { { "postcopy", "b" }, { NULL } };
static const VmlOptionSpec finish_options[] = {
  { "success", "b" }, { "pid", "u" }, { "fence", "s" }, { "qmp", "s" }, { "wait", "u" },
  { "resume", "b" }, { NULL }
};
static const VmlOptionSpec confirm_options[] = { { "success", "b" }, { "wait", "u" }, { NULL } };
static const VmlOptionSpec cancel_options[] = { { "wait", "u" }, { NULL } };

const StepSpec lease_transfer_steps[N_STEPS] = {
  [STEP_BEGIN]   = { "begin",   no_options,      check_begin,   work_begin,   done_begin },
  [STEP_PREPARE] = { "prepare", prepare_options, check_prepare, work_prepare, done_prepare },
  [STEP_PERFORM] = { "perform", perform_options, check_perform, work_perform, done_perform },
  [STEP_FINISH]  = { "finish",  finish_options,  check_finish,  work_finish,  done_finish },
  [STEP_CONFIRM] = { "confirm", confirm_options, transfer_check_confirm, transfer_work_confirm,
                     transfer_done_confirm },
  [STEP_CANCEL]  = { "cancel",  cancel_options,  transfer_check_cancel,  transfer_work_cancel,
                     transfer_done_cancel },
};
