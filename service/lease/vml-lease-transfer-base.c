/* vml-lease-transfer-base.c: what every Transfer step uses: the checks of
 * a token against this lease and hand-off, the tokens this host issues
 * (signed with its own key), the step's line in the log, and the ends a
 * step comes to (this host lets go, or holds the lease again). The steps
 * are in vml-lease-transfer-steps.c. */
#include "config.h"

#include "vml-error.h"
#include "vml-lease-private.h"
#include "vml-lease-transfer-private.h"

void
lease_step_data_free (StepData *data)
{
  g_clear_pointer (&data->token, vml_token_free);
  g_clear_pointer (&data->mine, vml_token_free);
  g_free (data->token_text);
  g_free (data->transfer_id);
  g_free (data->issued);
  g_clear_object (&data->holder);
  g_clear_object (&data->held_by);
  vml_fence_target_close (&data->target);
  g_free (data->fence_qmp);
  g_clear_pointer (&data->qmp, vml_qmp_close);
  g_free (data->resume_failed);
  g_free (data->next);
  g_clear_pointer (&data->disk_option, g_variant_unref);
  g_clear_pointer (&data->disks, g_ptr_array_unref);
  g_clear_pointer (&data->disk_holders, g_ptr_array_unref);
  g_free (data);
}

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

gboolean
transfer_wrong_step (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  if (error != NULL)
    *error = g_error_new_valist (VML_ERROR, VML_ERROR_WRONG_STEP, format, args);
  va_end (args);
  return FALSE;
}

gboolean
transfer_stale (GError **error, const char *why)
{
  g_set_error (error, VML_ERROR, VML_ERROR_STALE_TOKEN, "the token does not fit: %s", why);
  return FALSE;
}

gboolean
transfer_token_is_for_this_lease (VmlLease *self, const VmlToken *token, GError **error)
{
  if (g_strcmp0 (token->uuid, self->uuid) != 0 ||
      g_strcmp0 (token->lockspace, vml_lockspace_get_name (self->lockspace)) != 0 ||
      token->offset != self->offset)
    {
      g_autofree char *why = g_strdup_printf ("it is for the lease of %s, not %s", token->uuid,
                                              self->uuid);
      return transfer_stale (error, why);
    }
  return TRUE;
}

gboolean
transfer_token_is_of_kind (const VmlToken *token, VmlTokenKind kind, const char *step,
                           GError **error)
{
  if (token == NULL)
    {
      g_autofree char *why = g_strdup_printf ("%s needs the token of %s", step,
                                              vml_token_kind_name (kind));
      return transfer_stale (error, why);
    }
  if (token->kind != kind)
    {
      g_autofree char *why = g_strdup_printf ("it is the token of %s; %s takes the token of %s",
                                              vml_token_kind_name (token->kind), step,
                                              vml_token_kind_name (kind));
      return transfer_stale (error, why);
    }
  return TRUE;
}

gboolean
transfer_token_is_for_this_transfer (VmlLease *self, const VmlToken *token, GError **error)
{
  if (g_strcmp0 (token->transfer_id, self->transfer.id) != 0)
    return transfer_stale (error, "it belongs to another (or an earlier) hand-off of this lease");
  return TRUE;
}

/* This host's own token inside @token, of @kind. A finish that ran side by
 * side with perform answered the destination's own prepare token instead of
 * perform's: the begin token this host issued, inside that one, is then what
 * names the hand-off (what the destination claims is checked against
 * storage anyway). */
static VmlToken *
open_mine_in (const VmlToken *token, GBytes *key, VmlTokenKind kind, GError **error)
{
  g_autoptr(VmlToken) prepared = NULL;

  if (token->kind == VML_TOKEN_FINISHED && kind == VML_TOKEN_PERFORMED &&
      (prepared = vml_token_peek_inner (token, NULL)) != NULL &&
      prepared->kind == VML_TOKEN_PREPARED)
    return vml_token_open_inner (prepared, key, VML_TOKEN_BEGUN, error);
  return vml_token_open_inner (token, key, kind, error);
}

/* The token answers one we issued in this hand-off: open that one. */
static gboolean
open_mine (VmlLease *self, StepData *data, VmlTokenKind kind, GError **error)
{
  g_autoptr(GBytes) key = lease_transfer_key (self, error);

  if (key == NULL)
    return FALSE;
  data->mine = open_mine_in (data->token, key, kind, error);
  return data->mine != NULL && transfer_token_is_for_this_transfer (self, data->mine, error);
}

/* The token handed to @step is of @kind, for this lease and this hand-off,
 * and carries this host's own earlier token of @mine_kind, unchanged. */
gboolean
transfer_token_answers_mine (VmlLease *self, StepData *data, const char *step, VmlTokenKind kind,
                             VmlTokenKind mine_kind, GError **error)
{
  return transfer_token_is_of_kind (data->token, kind, step, error) &&
         transfer_token_is_for_this_lease (self, data->token, error) &&
         transfer_token_is_for_this_transfer (self, data->token, error) &&
         open_mine (self, data, mine_kind, error);
}

gboolean
transfer_token_answers_committed (VmlLease *self, StepData *data, GError **error)
{
  g_autoptr(GBytes) key = NULL;

  if (!transfer_token_is_of_kind (data->token, VML_TOKEN_FINISHED, "confirm", error) ||
      !transfer_token_is_for_this_lease (self, data->token, error) ||
      (key = lease_transfer_key (self, error)) == NULL)
    return FALSE;
  data->mine = open_mine_in (data->token, key, VML_TOKEN_PERFORMED, error);
  if (data->mine == NULL)
    return FALSE;
  /* committed is set by a post-copy perform only */
  if (g_strcmp0 (data->mine->transfer_id, self->transfer.committed) != 0 ||
      (data->mine->kind == VML_TOKEN_PERFORMED && !data->mine->postcopy))
    return transfer_stale (error, "it belongs to another (or an earlier) hand-off of this lease");
  return TRUE;
}

gboolean
transfer_token_is_own (VmlLease *self, StepData *data, VmlTokenKind kind, GError **error)
{
  g_autoptr(GBytes) key = NULL;

  if (!transfer_token_is_for_this_lease (self, data->token, error) ||
      !transfer_token_is_for_this_transfer (self, data->token, error) ||
      (key = lease_transfer_key (self, error)) == NULL)
    return FALSE;
  data->mine = vml_token_open_own (data->token, key, kind, error);
  return data->mine != NULL;
}

char *
transfer_issue (VmlLease *self, VmlToken *token, GBytes *answers)
{
  g_autoptr(GBytes) key = lease_transfer_key (self, NULL);

  token->uuid = g_strdup (self->uuid);
  if (token->transfer_id == NULL)
    token->transfer_id = g_strdup (self->transfer.id);
  token->lockspace = g_strdup (vml_lockspace_get_name (self->lockspace));
  token->offset = self->offset;
  token->inner = answers ? g_bytes_ref (answers) : NULL;
  if (key == NULL)
    return NULL;   /* lease_transfer_key logged it; cannot happen after a check */
  return vml_token_encode (token, key);
}

void
transfer_log_step (VmlLease *self, const char *what)
{
  g_autofree char *message = g_strdup_printf ("Transfer %s (%s, transfer %s, peer host %"
                                              G_GUINT64_FORMAT ")", what,
                                              vml_transfer_role_name (self->transfer.role),
                                              self->transfer.id ? self->transfer.id : "-",
                                              self->transfer.peer);

  vml_log (G_LOG_LEVEL_MESSAGE,
           LEASE_ABOUT (self, .step = self->transfer.step ? self->transfer.step : "",
                        .host_id = self->transfer.peer,
                        .holder_pid = self->holder ? (int) vml_holder_get_pid (self->holder) : 0,
                        .message_id = VML_MSGID_LEASE_TRANSFERRED),
           "%s", message);
}

/* This host's part is over and it holds nothing: its holder goes (it holds
 * nothing, so nothing is fenced), and the lease is free here. */
void
transfer_let_go (VmlLease *self)
{
  if (self->holder != NULL)
    vml_holder_terminate (self->holder);
  lease_drop_holder (self);
  /* its disks were let go of by the step's work */
  g_ptr_array_set_size (self->disks, 0);
  lease_disks_end_idle_holders (self);
  lease_disks_publish (self);
  lease_transfer_clear (self);
  lease_watch_fence_pid (self, 0, 0);
  self->fence = VML_FENCE_NONE;
  g_clear_pointer (&self->fence_qmp, g_free);
  lease_set_state (self, LEASE_FREE);
  lease_publish_holding (self);
  vml_dbus_lease_set_owner (self->iface, 0);
}

/* The token of @kind answering the one this step was handed: the hosts of
 * this hand-off as that one names them, what this step did (lease version,
 * post-copy, success), and the token answered, carried inside. */
char *
transfer_issue_answer (VmlLease *self, VmlTokenKind kind, const StepData *data)
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
  return transfer_issue (self, token, asked->raw);
}

/* The source holds the lease exclusively again (confirm failure, cancel). */
void
transfer_source_holds_again (VmlLease *self, StepData *data)
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
void
transfer_source_gives_up (VmlLease *self)
{
  transfer_log_step (self, "ended: another host took the lease meanwhile");
  transfer_let_go (self);
  lease_save_or_warn (self);
}

/* ---------------------------------------------------------------------- */
/* Thread helpers: what storage says                                      */

gboolean
lease_someone_else_shares (VmlLease *self, VmlLeaseOwners *owners)
{
  if (!owners->owners_live)
    return FALSE;
  for (guint i = 0; i < owners->shared_owners->len; i++)
    if (g_array_index (owners->shared_owners, guint64, i) != lease_my_host_id (self))
      return TRUE;
  return FALSE;
}

static gboolean
someone_holds (VmlLeaseOwners *owners)
{
  return owners->owners_live && (owners->owner != 0 || owners->shared_owners->len > 0);
}

gboolean
lease_is_free_by (VmlLease *self, gint64 deadline, guint wait_s, guint64 peer, gboolean *again,
                  GError **error)
{
  g_autoptr(VmlLeaseOwners) owners = lease_sanlock_read_owners (self->sanlock, error);
  GArray *shared;
  guint64 who;

  if (owners == NULL)
    return FALSE;
  if (!someone_holds (owners))
    return TRUE;
  if (g_get_monotonic_time () < deadline)
    {
      *again = TRUE;
      return FALSE;
    }
  shared = owners->shared_owners;
  who = owners->owner ? owners->owner : shared->len ? g_array_index (shared, guint64, 0) : peer;
  g_set_error (error, VML_ERROR, VML_ERROR_BUSY,
               "host %" G_GUINT64_FORMAT " still holds the lease%s after waiting %u s; "
               "sanlock frees it once that host cancels, or is seen dead (about "
               "8 × io_timeout + 60 s after it stopped); pass a longer wait",
               who, owners->owner ? " exclusively" : " shared", wait_s);
  return FALSE;
}

/* ---------------------------------------------------------------------- */
/* The key                                                                */

GBytes *
lease_transfer_key (VmlLease *self, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  GBytes *key = vml_token_load_key (vml_store_get_dir (self->store), &local_error);

  if (key == NULL)
    {
      vml_log_lease (G_LOG_LEVEL_WARNING, self->uuid, vml_lockspace_get_name (self->lockspace),
                     NULL, "No key to sign migration tokens with: %s", local_error->message);
      g_set_error (error, VML_ERROR, VML_ERROR_FAILED, "%s", local_error->message);
    }
  return key;
}
