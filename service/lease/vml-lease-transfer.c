/* vml-lease-transfer.c: VmlLease's migration hand-off, Transfer(step,
 * token, options) — DESIGN.md §3 and the Transfer doc in the XML.
 *
 * Each step is an operation in the lease's queue: a check on the main loop
 * (order, side, token: nothing has changed if it fails), sanlock work in a
 * worker thread, then the new state applied and the next token issued on
 * the main loop. The side's progress (role, transfer id, step, peer) is
 * kept in the lease record, so a restart of vmleased resumes where it was.
 * What the steps read from storage, the marker lease, and the hand-off's
 * part of the record and of Inquire are in vml-lease-handoff.c.
 *
 * Known limit: sanlock would let a third host take the lease shared while
 * it is in a hand-off; vmleased refuses shared acquisitions of a lease in a
 * hand-off only on the two hosts taking part. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"
#include "vml-mode-block.h"
#include "vml-log.h"

typedef struct _StepSpec StepSpec;

typedef struct {
  const StepSpec *spec;
  VmlToken       *token;       /* the other side's, NULL when "" */
  char           *token_text;  /* as the caller passed it */
  VmlToken       *mine;        /* our own token found inside it */
  guint           uid;
  gboolean        postcopy;
  gboolean        success;
  gboolean        taken_meanwhile;   /* the take-back found another holder's version */
  guint           wait_s;
  guint           fence_pid;
  VmlFence        fence;
  VmlFenceTarget  target;      /* prepare: fence_pid, pinned from the check */
  LeaseState      previous;
  /* Taken on the main loop when the step starts, for the worker thread,
   * which never reads the lease's changing fields: the main loop may clear
   * them meanwhile (a holder that exits). */
  VmlHolder      *held_by;     /* the lease's holder then, NULL if none */
  VmlTransferRole role;
  gboolean        after_perform;
  guint64         peer;
  guint64         transfer_lver;
  guint           losses;      /* the lease's count of losses then */
  gint64          deadline;    /* of a waiting confirm or cancel */
  /* from the worker thread */
  gboolean        again;       /* not yet: look again after WAIT_POLL_MS */
  gboolean        needs_marker; /* begin: the marker lease must be made first */
  gboolean        marker_made;
  VmlHolder      *holder;      /* a new holder (prepare, or a re-acquire) */
  guint64         lver;
  guint64         my_gen;
  char           *transfer_id; /* begin: the new hand-off's */
  char           *issued;      /* begin: T1, issued (and noted) by the thread */
} StepData;

struct _StepSpec {
  const char          *name;
  const VmlOptionSpec *options;
  gboolean           (*check)  (VmlLease *self, StepData *data, GError **error);
  gboolean           (*work)   (VmlLease *self, StepData *data, GError **error);   /* thread */
  char              *(*done)   (VmlLease *self, StepData *data);                  /* next token */
};

static void
step_data_free (StepData *data)
{
  g_clear_pointer (&data->token, vml_token_free);
  g_clear_pointer (&data->mine, vml_token_free);
  g_free (data->token_text);
  g_free (data->transfer_id);
  g_free (data->issued);
  g_clear_object (&data->holder);
  g_clear_object (&data->held_by);
  vml_fence_target_close (&data->target);
  g_free (data);
}

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static gboolean
wrong_step (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
wrong_step (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  if (error != NULL)
    *error = g_error_new_valist (VML_ERROR, VML_ERROR_WRONG_STEP, format, args);
  va_end (args);
  return FALSE;
}

static gboolean
stale (GError **error, const char *why)
{
  g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN, "the token does not fit: %s", why);
  return FALSE;
}

static gboolean
token_is_for_this_lease (VmlLease *self, const VmlToken *token, GError **error)
{
  if (g_strcmp0 (token->uuid, self->uuid) != 0 ||
      g_strcmp0 (token->lockspace, vml_lockspace_get_name (self->lockspace)) != 0 ||
      token->offset != self->offset)
    {
      g_autofree char *why = g_strdup_printf ("it is for the lease of %s, not %s", token->uuid,
                                              self->uuid);
      return stale (error, why);
    }
  return TRUE;
}

static gboolean
token_is_of_kind (const VmlToken *token, VmlTokenKind kind, const char *step, GError **error)
{
  if (token == NULL)
    {
      g_autofree char *why = g_strdup_printf ("%s needs the token of %s", step,
                                              vml_token_kind_name (kind));
      return stale (error, why);
    }
  if (token->kind != kind)
    {
      g_autofree char *why = g_strdup_printf ("it is the token of %s; %s takes the token of %s",
                                              vml_token_kind_name (token->kind), step,
                                              vml_token_kind_name (kind));
      return stale (error, why);
    }
  return TRUE;
}

static gboolean
token_is_for_this_transfer (VmlLease *self, const VmlToken *token, GError **error)
{
  if (g_strcmp0 (token->transfer_id, self->transfer_id) != 0)
    return stale (error, "it belongs to another (or an earlier) hand-off of this lease");
  return TRUE;
}

/* The token answers one we issued in this hand-off: open that one. */
static gboolean
open_mine (VmlLease *self, StepData *data, VmlTokenKind kind, GError **error)
{
  g_autoptr(GBytes) key = lease_transfer_key (self, error);

  if (key == NULL)
    return FALSE;
  data->mine = vml_token_open_inner (data->token, key, kind, error);
  return data->mine != NULL && token_is_for_this_transfer (self, data->mine, error);
}

/* The token handed to @step is of @kind, for this lease and this hand-off,
 * and carries this host's own earlier token of @mine_kind, unchanged. */
static gboolean
token_answers_mine (VmlLease *self, StepData *data, const char *step, VmlTokenKind kind,
                    VmlTokenKind mine_kind, GError **error)
{
  return token_is_of_kind (data->token, kind, step, error) &&
         token_is_for_this_lease (self, data->token, error) &&
         token_is_for_this_transfer (self, data->token, error) &&
         open_mine (self, data, mine_kind, error);
}

static char *
issue (VmlLease *self, VmlToken *token, GBytes *answers)
{
  g_autoptr(GBytes) key = lease_transfer_key (self, NULL);

  token->uuid = g_strdup (self->uuid);
  if (token->transfer_id == NULL)
    token->transfer_id = g_strdup (self->transfer_id);
  token->lockspace = g_strdup (vml_lockspace_get_name (self->lockspace));
  token->offset = self->offset;
  token->inner = answers ? g_bytes_ref (answers) : NULL;
  if (key == NULL)
    return NULL;   /* lease_transfer_key logged it; cannot happen after a check */
  return vml_token_encode (token, key);
}

void
lease_transfer_clear (VmlLease *self)
{
  lease_transfer_set (self, TRANSFER_NONE, NULL, NULL, 0);
  self->transfer_postcopy = FALSE;
  self->transfer_lver = 0;
  g_clear_pointer (&self->transfer_waiting, g_free);
}

static void
log_step (VmlLease *self, const char *what)
{
  g_autofree char *message = g_strdup_printf ("Transfer %s (%s, transfer %s, peer host %"
                                              G_GUINT64_FORMAT ")", what,
                                              lease_transfer_role_name (self->transfer_role),
                                              self->transfer_id ? self->transfer_id : "-",
                                              self->transfer_peer);

  vml_log_lease_step (self->uuid, vml_lockspace_get_name (self->lockspace),
                      self->transfer_step ? self->transfer_step : "", message);
}

/* This host's part is over and it holds nothing: its holder goes (it holds
 * nothing, so nothing is fenced), and the lease is free here. */
static void
let_go (VmlLease *self)
{
  if (self->holder != NULL)
    vml_holder_terminate (self->holder);
  lease_drop_holder (self);
  lease_transfer_clear (self);
  lease_watch_fence_pid (self, 0, 0);
  self->fence = VML_FENCE_NONE;
  lease_set_state (self, LEASE_FREE);
  lease_publish_holding (self);
  vml_dbus_lease_set_owner (self->iface, 0);
}

/* The token of @kind answering the one this step was handed: the hosts of
 * this hand-off as that one names them, what this step did (lease version,
 * post-copy, success), and the token answered, carried inside. */
static char *
issue_answer (VmlLease *self, VmlTokenKind kind, const StepData *data)
{
  const VmlToken *asked = data->token;
  g_autoptr(VmlToken) token = g_new0 (VmlToken, 1);

  token->kind = kind;
  token->source = asked->source;
  token->source_gen = asked->source_gen;
  token->dest = asked->dest;
  token->dest_gen = asked->dest_gen;
  token->lver = data->lver;
  token->postcopy = kind == VML_TOKEN_PERFORMED && data->postcopy;
  token->success = kind == VML_TOKEN_FINISHED && data->success;
  return issue (self, token, asked->raw);
}

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
          !vml_holder_claim (data->holder, self->uuid, data->fence, data->fence_pid, error))
        return FALSE;
      holder = data->holder;
    }
  if (!lease_holder_acquire (self, holder, FALSE, data->transfer_lver, &data->lver, &local_error))
    {
      /* Nobody held it a moment ago, so a refusal means its version moved:
       * someone took it meanwhile. This hand-off cannot end any other way. */
      data->taken_meanwhile = g_error_matches (local_error, VML_ERROR, VML_ERROR_BUSY);
      if (data->taken_meanwhile)
        lease_marker_drop (self, holder);   /* nothing left to hand off */
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "cannot take the lease back: ");
      return FALSE;
    }
  lease_marker_drop (self, data->held_by);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* begin (source): exclusive → shared here                                */

static gboolean
check_begin (VmlLease *self, StepData *data, GError **error)
{
  if (data->token != NULL)
    return wrong_step (error, "begin starts a hand-off and takes no token");
  if (self->transfer_role != TRANSFER_NONE)
    return wrong_step (error, "a hand-off of %s is already in progress here (%s, after %s); "
                       "finish or cancel it first", self->uuid,
                       lease_transfer_role_name (self->transfer_role), self->transfer_step);
  if (self->state != LEASE_HELD)
    return wrong_step (error, "begin needs the lease of %s held exclusively on this host; "
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
  return issue (self, t1, NULL);
}

static gboolean
work_begin (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = lease_read_owners (self, error);
  g_autoptr(GError) local_error = NULL;
  gboolean live;

  /* Read first: once converted, nothing may fail any more. */
  if (owners == NULL ||
      !lease_host_generation (self, lease_my_host_id (self), &data->my_gen, &live, error))
    return FALSE;
  data->lver = owners->lver;
  if (!lease_marker_take (self, data->held_by, &local_error))
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
  if (data->issued == NULL || !lease_marker_note_begin (self, data->issued, error) ||
      !lease_holder_convert (self, data->held_by, TRUE, error))
    {
      if (data->issued == NULL)
        g_set_error_literal (error, VML_ERROR, VML_ERROR_FAILED,
                             "cannot sign the begin token (see the log)");
      lease_marker_drop (self, data->held_by);
      return FALSE;
    }
  return TRUE;
}

static char *
done_begin (VmlLease *self, StepData *data)
{
  g_clear_pointer (&self->committed_transfer, g_free);
  lease_transfer_set (self, TRANSFER_SOURCE, data->transfer_id, "begin", 0);
  self->mode = VML_MODE_SHARED;
  lease_set_state (self, LEASE_MIGRATING_OUT);
  lease_publish_holding (self);
  vml_dbus_lease_set_owner (self->iface, 0);
  lease_save_or_warn (self);
  log_step (self, "begun: exclusive → shared");
  return g_steal_pointer (&data->issued);
}

/* ---------------------------------------------------------------------- */
/* prepare (destination): check T1 against storage, take the lease shared */

static gboolean
check_prepare (VmlLease *self, StepData *data, GError **error)
{
  if (!token_is_of_kind (data->token, VML_TOKEN_BEGUN, "prepare", error) ||
      !token_is_for_this_lease (self, data->token, error))
    return FALSE;
  if (data->token->source == lease_my_host_id (self))
    return wrong_step (error, "prepare runs on the destination; this host (%" G_GUINT64_FORMAT
                       ") is the source of that hand-off", lease_my_host_id (self));
  if (self->transfer_role != TRANSFER_NONE)
    return wrong_step (error, "a hand-off of %s is already in progress here (%s, after %s)",
                       self->uuid, lease_transfer_role_name (self->transfer_role),
                       self->transfer_step);
  if (self->state != LEASE_FREE && self->state != LEASE_LOST)
    return wrong_step (error, "prepare needs the lease of %s not held on this host; it is %s",
                       self->uuid, lease_state_names[self->state]);
  return lease_lockspace_ready (self, error);
}

static gboolean
work_prepare (VmlLease *self, StepData *data, GError **error)
{
  const VmlToken *t1 = data->token;
  g_autoptr(VmlSanlockOwners) owners = lease_read_owners (self, error);
  guint64 gen;
  gboolean live;

  if (owners == NULL || !lease_host_generation (self, t1->source, &gen, &live, error))
    return FALSE;
  if (!live || gen != t1->source_gen)
    return stale (error, "the source host it names is not running the incarnation that issued "
                  "it (it restarted, or died)");
  if (owners->owner != 0 || !lease_owners_hold_shared (owners, t1->source))
    return stale (error, "the source does not hold the lease shared as begin left it (an "
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
        return stale (error, why);
      }
  /* Only the begin token the source issued last, as it noted it on
   * storage: not one made up from what Inquire shows. */
  if (!lease_marker_note_vouches (self, data->token_text, t1->source, error) ||
      !lease_host_generation (self, lease_my_host_id (self), &data->my_gen, &live, error))
    return FALSE;
  if (data->holder == NULL)
    data->holder = vml_holder_spawn (vml_holder_pool_get_holder_path (self->holders),
                                      VML_HOLDER_FOR_LEASE, error);
  return data->holder != NULL &&
         vml_holder_claim (data->holder, self->uuid, data->fence, data->fence_pid, error) &&
         lease_holder_acquire (self, data->holder, TRUE, 0, &data->lver, error);
}

static char *
done_prepare (VmlLease *self, StepData *data)
{
  const VmlToken *t1 = data->token;
  g_autoptr(VmlToken) t2 = g_new0 (VmlToken, 1);

  g_clear_object (&self->acquiring_holder);
  lease_adopt_holder (self, g_steal_pointer (&data->holder));
  g_clear_pointer (&self->committed_transfer, g_free);
  lease_transfer_set (self, TRANSFER_DESTINATION, t1->transfer_id, "prepare", t1->source);
  self->mode = VML_MODE_SHARED;
  self->fence = data->fence;
  lease_take_fence_target (self, data->fence_pid, &data->target);
  self->owner_uid = data->uid;
  self->lver = data->lver;
  lease_set_state (self, LEASE_MIGRATING_IN);
  lease_publish_holding (self);
  lease_save_or_warn (self);
  lease_storage_warn_if_failing (self);
  log_step (self, "prepared: holding it shared");

  t2->kind = VML_TOKEN_PREPARED;
  t2->source = t1->source;
  t2->source_gen = t1->source_gen;
  t2->dest = lease_my_host_id (self);
  t2->dest_gen = data->my_gen;
  t2->lver = data->lver;
  return issue (self, t2, t1->raw);
}

/* ---------------------------------------------------------------------- */
/* perform (source): let go of the shared hold; post-copy: for good       */

static gboolean
check_perform (VmlLease *self, StepData *data, GError **error)
{
  if (self->transfer_role != TRANSFER_SOURCE)
    return wrong_step (error, "perform runs on the source after begin; no hand-off of %s "
                       "started here", self->uuid);
  if (g_strcmp0 (self->transfer_step, "begin") != 0)
    return wrong_step (error, "perform was already done for this hand-off; next is confirm "
                       "(or cancel)");
  if (!token_answers_mine (self, data, "perform", VML_TOKEN_PREPARED, VML_TOKEN_BEGUN, error))
    return FALSE;
  if (data->token->source != lease_my_host_id (self) ||
      data->token->dest == lease_my_host_id (self))
    return stale (error, "its hosts do not match this hand-off");
  /* The destination wrote dest and dest_gen, signed with its own key, which
   * this host cannot check: they are a claim, proven against storage and
   * sanlock by work_perform. Here only what no real host can be. */
  if (data->token->dest < 1 ||
      data->token->dest > vml_sanlock_max_host_id (vml_lockspace_get_sector_size (self->lockspace)) ||
      data->token->dest_gen == 0)
    return stale (error, "it names no host of this lockspace as the destination");
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
  g_autoptr(VmlSanlockOwners) owners = NULL;
  VmlModeBlock block;

  if (vml_mode_block_read (self->path, self->offset, self->uuid, t2->dest, &block,
                           &local_error))
    {
      *lver = block.lver;
      return block.shared && block.generation == t2->dest_gen;
    }
  g_debug ("%s: %s; reading the owners through sanlock", self->uuid, local_error->message);
  owners = lease_read_owners (self, error);
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

  if (!lease_host_generation (self, t2->dest, &gen, &live, error))
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
  if (!lease_holder_release (self, data->held_by, error))
    return FALSE;
  if (data->postcopy)
    lease_marker_drop (self, data->held_by);   /* this host's part ends here */
  return TRUE;
}

static char *
done_perform (VmlLease *self, StepData *data)
{
  char *next = issue_answer (self, VML_TOKEN_PERFORMED, data);

  lease_transfer_set (self, TRANSFER_SOURCE, self->transfer_id, "perform", data->token->dest);
  self->transfer_postcopy = data->postcopy;
  self->transfer_lver = data->lver;
  vml_dbus_lease_set_mode (self->iface, "");
  if (data->postcopy)
    {
      /* The point of no return: this host is done with the lease. */
      log_step (self, "performed, post-copy: committed");
      self->committed_transfer = g_strdup (self->transfer_id);
      let_go (self);
    }
  else
    log_step (self, "performed: let go, the destination holds it");
  lease_save_or_warn (self);
  return next;
}

/* ---------------------------------------------------------------------- */
/* finish (destination): shared → exclusive, or give it up                */

static gboolean
check_finish (VmlLease *self, StepData *data, GError **error)
{
  if (self->transfer_role != TRANSFER_DESTINATION)
    return wrong_step (error, "finish runs on the destination after prepare; no hand-off of "
                       "%s is being received here", self->uuid);
  if (!token_answers_mine (self, data, "finish", VML_TOKEN_PERFORMED, VML_TOKEN_PREPARED, error))
    return FALSE;
  if (data->token->dest != lease_my_host_id (self))
    return stale (error, "it hands the lease to another host");
  return TRUE;
}

static gboolean
work_finish (VmlLease *self, StepData *data, GError **error)
{
  gboolean held, shared;

  if (!data->success)
    return lease_holder_release (self, data->held_by, error);
  /* sanlock refuses (Busy) while the source still holds it shared. */
  if (!lease_holder_convert (self, data->held_by, FALSE, error))
    return FALSE;
  g_mutex_lock (&self->cmd_lock);
  vml_sanlock_inquire_holder (vml_holder_get_pid (data->held_by), self->uuid, &held, &shared,
                              &data->lver, NULL);
  g_mutex_unlock (&self->cmd_lock);
  return TRUE;
}

static char *
done_finish (VmlLease *self, StepData *data)
{
  char *next = issue_answer (self, VML_TOKEN_FINISHED, data);

  log_step (self, data->success ? "finished: held exclusively here" : "finished: failed, let go");
  if (data->success)
    {
      lease_transfer_clear (self);
      self->mode = VML_MODE_EXCLUSIVE;
      self->lver = data->lver;
      lease_set_state (self, LEASE_HELD);
      lease_publish_holding (self);
    }
  else
    let_go (self);
  lease_save_or_warn (self);
  return next;
}

/* ---------------------------------------------------------------------- */
/* confirm (source) and cancel (either side)                              */

static gboolean
refuse_if_committed (VmlLease *self, StepData *data, const char *step, GError **error)
{
  if (self->committed_transfer == NULL || self->transfer_role != TRANSFER_NONE)
    return TRUE;
  if (data->token != NULL && g_strcmp0 (data->token->transfer_id, self->committed_transfer) != 0)
    return TRUE;
  g_set_error (error, VML_ERROR, VML_ERROR_COMMITTED,
               "cannot %s: the post-copy hand-off %s passed its point of no return at perform; "
               "the lease belongs to the destination now", step, self->committed_transfer);
  return FALSE;
}

static gboolean
check_confirm (VmlLease *self, StepData *data, GError **error)
{
  if (!refuse_if_committed (self, data, "confirm", error))
    return FALSE;
  if (self->transfer_role != TRANSFER_SOURCE)
    return wrong_step (error, "confirm runs on the source; no hand-off of %s started here",
                       self->uuid);
  /* Before perform only a failure can be confirmed (the destination died
   * after prepare, say): it takes the lease back like cancel. */
  if (g_strcmp0 (self->transfer_step, "perform") != 0 && (data->success || data->token != NULL))
    return wrong_step (error, "confirm with success follows perform; perform was not done "
                       "yet (confirm with success false and no token, or cancel, to give up)");
  if (data->token == NULL)
    {
      if (data->success)
        return stale (error, "confirming success needs the token of finish");
      return TRUE;
    }
  if (!token_answers_mine (self, data, "confirm", VML_TOKEN_FINISHED, VML_TOKEN_PERFORMED, error))
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

static gboolean work_cancel (VmlLease *self, StepData *data, GError **error);

static gboolean
work_confirm (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(VmlSanlockOwners) owners = NULL;

  if (!data->success)
    return work_cancel (self, data, error);
  owners = lease_read_owners (self, error);
  if (owners == NULL)
    return FALSE;
  if (owners->owner != data->peer)
    {
      g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
                   "host %" G_GUINT64_FORMAT " does not hold the lease exclusively yet; run "
                   "finish there first", data->peer);
      return FALSE;
    }
  lease_marker_drop (self, data->held_by);
  return TRUE;
}

/* The source holds the lease exclusively again (confirm failure, cancel). */
static void
source_holds_again (VmlLease *self, StepData *data)
{
  if (data->holder != NULL)
    {
      lease_drop_holder (self);
      lease_adopt_holder (self, g_steal_pointer (&data->holder));
    }
  self->mode = VML_MODE_EXCLUSIVE;
  if (data->lver != 0)
    self->lver = data->lver;
  lease_transfer_clear (self);
  lease_set_state (self, LEASE_HELD);
  lease_publish_holding (self);
}

/* cancel on a source whose lease someone took since perform: there is
 * nothing to take back, so its part of the hand-off just ends. */
static void
source_gives_up (VmlLease *self)
{
  log_step (self, "ended: another host took the lease meanwhile");
  let_go (self);
  lease_save_or_warn (self);
}

static char *
done_confirm (VmlLease *self, StepData *data)
{
  if (data->success)
    {
      log_step (self, "confirmed: the destination holds it");
      let_go (self);
    }
  else
    {
      log_step (self, "confirmed failure: held exclusively here again");
      source_holds_again (self, data);
    }
  lease_save_or_warn (self);
  return g_strdup ("");
}

static gboolean
check_cancel (VmlLease *self, StepData *data, GError **error)
{
  if (!refuse_if_committed (self, data, "cancel", error))
    return FALSE;
  if (self->transfer_role == TRANSFER_NONE)
    return wrong_step (error, "no hand-off of %s is in progress here", self->uuid);
  return data->token == NULL || (token_is_for_this_lease (self, data->token, error) &&
                                 token_is_for_this_transfer (self, data->token, error));
}

/* After begin: shared → exclusive, once the destination let go. Waiting
 * is a read-only look at the owners: every refused convert would be a
 * paxos round on storage and raise the lease version. While it waits, the
 * step comes back here every WAIT_POLL_MS from a main-loop timer. */
static gboolean
convert_back (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(VmlSanlockOwners) owners = lease_read_owners (self, NULL);
  gboolean waiting = g_get_monotonic_time () < data->deadline;

  if (owners != NULL && lease_someone_else_shares (self, owners) && waiting)
    {
      data->again = TRUE;
      return FALSE;
    }
  if (lease_holder_convert (self, data->held_by, FALSE, &local_error))
    {
      lease_marker_drop (self, data->held_by);
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

static gboolean
work_cancel (VmlLease *self, StepData *data, GError **error)
{
  if (data->role == TRANSFER_DESTINATION)
    return lease_holder_release (self, data->held_by, error);
  if (data->after_perform)
    return take_back (self, data, error);
  return convert_back (self, data, error);
}

static char *
done_cancel (VmlLease *self, StepData *data)
{
  if (self->transfer_role == TRANSFER_DESTINATION)
    {
      log_step (self, "cancelled on the destination: let go");
      let_go (self);
    }
  else
    {
      log_step (self, "cancelled on the source: held exclusively here again");
      source_holds_again (self, data);
    }
  lease_save_or_warn (self);
  return g_strdup ("");
}

/* ---------------------------------------------------------------------- */
/* The steps, and running one                                             */

static const VmlOptionSpec no_options[] = { { NULL } };
static const VmlOptionSpec prepare_options[] = { { "pid", "u" }, { "fence", "s" }, { NULL } };
static const VmlOptionSpec perform_options[] = { { "postcopy", "b" }, { NULL } };
static const VmlOptionSpec finish_options[] = { { "success", "b" }, { NULL } };
static const VmlOptionSpec confirm_options[] = { { "success", "b" }, { "wait", "u" }, { NULL } };
static const VmlOptionSpec cancel_options[] = { { "wait", "u" }, { NULL } };

static const StepSpec steps[] = {
  { "begin",   no_options,      check_begin,   work_begin,   done_begin },
  { "prepare", prepare_options, check_prepare, work_prepare, done_prepare },
  { "perform", perform_options, check_perform, work_perform, done_perform },
  { "finish",  finish_options,  check_finish,  work_finish,  done_finish },
  { "confirm", confirm_options, check_confirm, work_confirm, done_confirm },
  { "cancel",  cancel_options,  check_cancel,  work_cancel,  done_cancel },
};

static void
step_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  StepData *data = task_data;
  GError *error = NULL;

  if (data->spec->work (VML_LEASE (source), data, &error) || data->again || data->needs_marker)
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

/* The lease's holder exited while the step ran (vml-lease.c reported the
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
      lease_op_again_after (op, WAIT_POLL_MS, run_step_work);
      return;
    }
  else if (ok && data->needs_marker)
    {
      data->needs_marker = FALSE;
      data->marker_made = TRUE;
      lease_marker_create_async (self, on_marker_made, op);
      return;
    }
  g_clear_pointer (&self->transfer_waiting, g_free);
  if (!ok)
    {
      if (data->spec->done == done_prepare)
        undo_prepare (self, data);
      if (data->taken_meanwhile && data->spec->done == done_cancel)
        {
          /* cancel undoes this side; what it would give back is gone. */
          g_clear_error (&error);
          source_gives_up (self);
          lease_finish_op (self, g_variant_new_string (""), NULL);
          return;
        }
      lease_finish_op (self, NULL, error);
      return;
    }
  lease_finish_op (self, g_variant_new_take_string (data->spec->done (self, data)), NULL);
}

/* What the worker thread may know of the lease, taken now. */
static void
snapshot_for_thread (VmlLease *self, StepData *data)
{
  g_set_object (&data->held_by, self->holder);
  data->role = self->transfer_role;
  data->after_perform = g_strcmp0 (self->transfer_step, "perform") == 0;
  data->peer = self->transfer_peer;
  data->transfer_lver = self->transfer_lver;
  data->losses = self->losses;
  data->deadline = g_get_monotonic_time () + (gint64) data->wait_s * G_USEC_PER_SEC;
  if (data->spec->done != done_prepare)
    {
      /* a holder that takes the lease back fences as the lease does */
      data->fence = self->fence;
      data->fence_pid = self->fence_pid;
    }
}

/* Every step but prepare works through the lease's holder, except the
 * source's after perform, whose holder may be gone (it held nothing). */
static gboolean
holder_present (VmlLease *self, StepData *data, GError **error)
{
  if (data->held_by != NULL || data->spec->done == done_prepare ||
      (data->role == TRANSFER_SOURCE && data->after_perform))
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

  if (lease_marker_create_finish (self, result, &error))
    run_step_work (self, G_TASK (user_data));
  else
    {
      g_prefix_error (&error, "cannot mark the lease as in a hand-off: ");
      lease_finish_op (self, NULL, error);
    }
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
  if (data->spec->done == done_prepare)
    {
      data->previous = self->state;
      data->holder = vml_holder_pool_take (self->holders);
      g_set_object (&self->acquiring_holder, data->holder);
      lease_set_state (self, LEASE_MIGRATING_IN);
      lease_save_or_warn (self);
    }
  if (data->wait_s > 0 && self->transfer_role == TRANSFER_SOURCE)
    self->transfer_waiting = g_strdup_printf ("to let go of the lease (or to be seen dead by "
                                              "sanlock), up to %u s", data->wait_s);
  run_step_work (self, op);
}

static const StepSpec *
find_step (const char *name, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    if (g_str_equal (steps[i].name, name))
      return &steps[i];
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
  g_variant_lookup (options, "wait", "u", &data->wait_s);
  if (!vml_check_wait (data->wait_s, method, error))
    goto fail;
  /* confirm without "success" believes the destination's token */
  if (!g_variant_lookup (options, "success", "b", &data->success) && data->token != NULL &&
      data->token->kind == VML_TOKEN_FINISHED)
    data->success = data->token->success;
  if (spec->done == done_prepare &&
      (!vml_fence_options_parse (options, &data->fence, &data->fence_pid, error) ||
       (data->fence_pid != 0 && !vml_fence_target_open (data->fence_pid, &data->target, error))))
    goto fail;
  return data;

fail:
  step_data_free (data);
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
      step_data_free (data);
      return;
    }
  lease_enqueue_invocation (self, invocation, uid, data, (GDestroyNotify) step_data_free, error,
                            start_step);
}

