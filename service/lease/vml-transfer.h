/* vml-transfer.h: one lease's hand-off to or from another host, as this
 * host sees it: its role, transfer id, last step and peer, what the
 * destination was told at perform, and the TransferRequested already
 * emitted. Its own part of the lease's record (group "transfer") and of
 * Inquire. A plain struct inside VmlLease, used on the main loop only; it
 * speaks neither to sanlock nor to D-Bus. The steps that move it are in
 * vml-lease-transfer-steps.c. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  TRANSFER_NONE,
  TRANSFER_SOURCE,
  TRANSFER_DESTINATION,
} VmlTransferRole;

typedef struct {
  VmlTransferRole role;
  char           *id;
  char           *step;        /* last step done here */
  guint64         peer;        /* the other host's id, 0 until known */
  gboolean        postcopy;
  guint64         lver;        /* source: lease version at perform */
  char           *waiting;     /* while a confirm/cancel waits: how long */
  char           *committed;   /* a post-copy transfer the source finished */

  guint64         requested_by;   /* last TransferRequested, to drop repeats */
  guint64         requested_lver;
  gint64          requested_at;
} VmlTransfer;

const char *vml_transfer_role_name (VmlTransferRole role);

/* The transfer in progress moves to @step (@id and @step may be @t's own). */
void        vml_transfer_set       (VmlTransfer *t, VmlTransferRole role, const char *id,
                                    const char *step, guint64 peer);
/* No transfer in progress any more (committed and requested_* stay). */
void        vml_transfer_clear     (VmlTransfer *t);
/* Frees what @t holds (the lease is finalized). */
void        vml_transfer_destroy   (VmlTransfer *t);

/* The source after perform: it let go and holds nothing, and its holder
 * may be gone without a loss (a new one takes the lease back if needed). */
gboolean    vml_transfer_source_let_go (const VmlTransfer *t);

void        vml_transfer_save      (const VmlTransfer *t, GKeyFile *record);
void        vml_transfer_load      (VmlTransfer *t, GKeyFile *record);

/* Inquire's "transfer": floating a{sv}, NULL when none is in progress.
 * @other_sharer: a host other than this one that storage says holds the
 * lease shared (0: none, or not read), whom a source before perform waits
 * for. */
GVariant   *vml_transfer_describe  (const VmlTransfer *t, guint64 other_sharer);

/* Whether a TransferRequested from @from_host for @lver at @now (monotonic)
 * repeats the last one (sanlock delivers a message two or three times);
 * if not, it is remembered as the last one. */
gboolean    vml_transfer_request_is_repeat (VmlTransfer *t, guint64 from_host, guint64 lver,
                                            gint64 now);

G_END_DECLS
