/* vml-transfer.c: see vml-transfer.h. */
#include "config.h"

#include <gio/gio.h>

#include "vml-transfer.h"

const char *
vml_transfer_role_name (VmlTransferRole role)
{
  return role == TRANSFER_SOURCE ? "source" : role == TRANSFER_DESTINATION ? "destination" : "";
}

void
vml_transfer_set (VmlTransfer *t, VmlTransferRole role, const char *id, const char *step,
                  guint64 peer)
{
  char *new_id = g_strdup (id), *new_step = g_strdup (step);   /* may be our own */

  t->role = role;
  g_free (t->id);
  t->id = new_id;
  g_free (t->step);
  t->step = new_step;
  t->peer = peer;
}

void
vml_transfer_clear (VmlTransfer *t)
{
  vml_transfer_set (t, TRANSFER_NONE, NULL, NULL, 0);
  t->postcopy = FALSE;
  t->lver = 0;
  g_clear_pointer (&t->waiting, g_free);
}

void
vml_transfer_destroy (VmlTransfer *t)
{
  g_clear_pointer (&t->id, g_free);
  g_clear_pointer (&t->step, g_free);
  g_clear_pointer (&t->waiting, g_free);
  g_clear_pointer (&t->committed, g_free);
}

gboolean
vml_transfer_source_let_go (const VmlTransfer *t)
{
  return t->role == TRANSFER_SOURCE && g_strcmp0 (t->step, "perform") == 0;
}

#define GROUP "transfer"

void
vml_transfer_save (const VmlTransfer *t, GKeyFile *record)
{
  if (t->committed != NULL)
    g_key_file_set_string (record, GROUP, "committed", t->committed);
  if (t->role == TRANSFER_NONE)
    return;
  g_key_file_set_string (record, GROUP, "role", vml_transfer_role_name (t->role));
  g_key_file_set_string (record, GROUP, "id", t->id);
  g_key_file_set_string (record, GROUP, "step", t->step);
  g_key_file_set_uint64 (record, GROUP, "peer", t->peer);
  g_key_file_set_boolean (record, GROUP, "postcopy", t->postcopy);
  g_key_file_set_uint64 (record, GROUP, "lver", t->lver);
}

void
vml_transfer_load (VmlTransfer *t, GKeyFile *record)
{
  g_autofree char *role = g_key_file_get_string (record, GROUP, "role", NULL);
  g_autofree char *id = g_key_file_get_string (record, GROUP, "id", NULL);
  g_autofree char *step = g_key_file_get_string (record, GROUP, "step", NULL);
  VmlTransferRole r = g_strcmp0 (role, "source") == 0 ? TRANSFER_SOURCE :
                      g_strcmp0 (role, "destination") == 0 ? TRANSFER_DESTINATION : TRANSFER_NONE;

  t->committed = g_key_file_get_string (record, GROUP, "committed", NULL);
  if (r == TRANSFER_NONE || id == NULL || step == NULL)
    return;
  vml_transfer_set (t, r, id, step, g_key_file_get_uint64 (record, GROUP, "peer", NULL));
  t->postcopy = g_key_file_get_boolean (record, GROUP, "postcopy", NULL);
  t->lver = g_key_file_get_uint64 (record, GROUP, "lver", NULL);
}

/* Who the source waits for: the peer, or before perform (when it is not
 * known yet) whoever else holds the lease shared on storage. */
static char *
waiting_for (const VmlTransfer *t, guint64 other_sharer)
{
  guint64 who = t->peer ? t->peer : other_sharer;

  if (who == 0)
    return g_strdup_printf ("for the destination %s", t->waiting);
  return g_strdup_printf ("for host %" G_GUINT64_FORMAT " %s", who, t->waiting);
}

GVariant *
vml_transfer_describe (const VmlTransfer *t, guint64 other_sharer)
{
  GVariantDict dict;

  if (t->role == TRANSFER_NONE)
    return NULL;
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "role", "s", vml_transfer_role_name (t->role));
  g_variant_dict_insert (&dict, "step", "s", t->step);
  g_variant_dict_insert (&dict, "id", "s", t->id);
  g_variant_dict_insert (&dict, "peer", "t", t->peer);
  g_variant_dict_insert (&dict, "postcopy", "b", t->postcopy);
  if (t->waiting != NULL)
    {
      g_autofree char *waiting = waiting_for (t, other_sharer);

      g_variant_dict_insert (&dict, "waiting", "s", waiting);
    }
  return g_variant_dict_end (&dict);
}

gboolean
vml_transfer_request_is_repeat (VmlTransfer *t, guint64 from_host, guint64 lver, gint64 now)
{
  if (from_host == t->requested_by && lver == t->requested_lver &&
      now - t->requested_at < 60 * G_USEC_PER_SEC)
    return TRUE;
  t->requested_by = from_host;
  t->requested_lver = lver;
  t->requested_at = now;
  return FALSE;
}
