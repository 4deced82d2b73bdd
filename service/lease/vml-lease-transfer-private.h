/* vml-lease-transfer-private.h: shared by the hand-off's two files,
 * vml-lease-transfer.c (the steps) and vml-lease-handoff.c (storage, the
 * marker lease, record and Inquire). Functions marked "thread" block on
 * storage or the sanlock daemon. */
#pragma once

#include "vml-lease-private.h"

G_BEGIN_DECLS

/* How often a waiting step looks at storage again. */
#define WAIT_POLL_MS 500

static inline guint64
lease_my_host_id (VmlLease *self)
{
  return vml_lockspace_get_host_id (self->lockspace);
}

const char        *lease_transfer_role_name   (VmlTransferRole role);
void               lease_transfer_set         (VmlLease *self, VmlTransferRole role, const char *id,
                                               const char *step, guint64 peer);

/* thread: what storage says */
gboolean           lease_host_generation      (VmlLease *self, guint64 host_id, guint64 *generation,
                                               gboolean *live, GError **error);
VmlSanlockOwners  *lease_read_owners          (VmlLease *self, GError **error);
gboolean           lease_owners_hold_shared   (VmlSanlockOwners *owners, guint64 host_id);
gboolean           lease_someone_else_shares  (VmlLease *self, VmlSanlockOwners *owners);
/* Whether no live host holds the lease; while one does and @deadline is
 * ahead, *@again is set (look again later), after it a Busy naming the
 * holder (@peer when storage does not say). */
gboolean           lease_is_free_by           (VmlLease *self, gint64 deadline, guint wait_s,
                                               guint64 peer, gboolean *again, GError **error);

/* thread: the marker lease ("x-<uuid>") the source holds during its part */
gboolean           lease_marker_take          (VmlLease *self, VmlHolder *holder, GError **error);
void               lease_marker_drop          (VmlLease *self, VmlHolder *holder);
/* main loop: makes the marker lease (under the index lock), once per lease */
void               lease_marker_create_async  (VmlLease *self, GAsyncReadyCallback callback,
                                               gpointer user_data);
gboolean           lease_marker_create_finish (VmlLease *self, GAsyncResult *result,
                                               GError **error);
/* thread: the source records the begin token it issues in the marker's
 * note (vml-handoff-note.h); the destination takes only that one
 * (StaleToken otherwise, naming host @source). */
gboolean           lease_marker_note_begin    (VmlLease *self, const char *begin_token,
                                               GError **error);
gboolean           lease_marker_note_vouches  (VmlLease *self, const char *begin_token,
                                               guint64 source, GError **error);

G_END_DECLS
