/* vml-log.h: structured logging. Under systemd (stderr connected to the
 * journal) records go to journald with their fields; otherwise a readable
 * line on stderr. Fields a person can filter on: VMLEASE_UUID,
 * VMLEASE_LOCKSPACE, and MESSAGE_ID for the lease events below. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* MESSAGE_IDs (journalctl MESSAGE_ID=...), stable across releases. */
#define VML_MSGID_LEASE_ACQUIRED "3b8f5a7c9e2d4f61a0b1c2d3e4f50601"
#define VML_MSGID_LEASE_RELEASED "3b8f5a7c9e2d4f61a0b1c2d3e4f50602"
#define VML_MSGID_LEASE_LOST     "3b8f5a7c9e2d4f61a0b1c2d3e4f50603"
#define VML_MSGID_LEASE_TRANSFERRED "3b8f5a7c9e2d4f61a0b1c2d3e4f50604"

void vml_log_setup (gboolean verbose);

/* Log about one lease; @message_id may be NULL. */
void vml_log_lease (GLogLevelFlags level,
                    const char    *uuid,
                    const char    *lockspace,
                    const char    *message_id,
                    const char    *format,
                    ...) G_GNUC_PRINTF (5, 6);

/* A hand-off step of one lease (message VML_MSGID_LEASE_TRANSFERRED,
 * field VMLEASE_TRANSFER_STEP), @message already formatted. */
void vml_log_lease_step (const char    *uuid,
                         const char    *lockspace,
                         const char    *step,
                         const char    *message);

G_END_DECLS
