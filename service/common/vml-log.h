/* vml-log.h: structured logging. Under systemd (stderr connected to the
 * journal) records go to journald with their fields; otherwise a readable
 * line on stderr. Fields a person can filter on: VMLEASE_UUID,
 * VMLEASE_LOCKSPACE, VMLEASE_PATH, VMLEASE_HOST_ID, VMLEASE_CALLER_UID,
 * VMLEASE_HOLDER_PID, VMLEASE_TRANSFER_STEP, and MESSAGE_ID for the events
 * below. Every message of vmleased goes through vml_log() or one of its
 * wrappers: plain g_warning() and friends carry none of these fields. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* MESSAGE_IDs (journalctl MESSAGE_ID=...), stable across releases. */
#define VML_MSGID_LEASE_ACQUIRED "3b8f5a7c9e2d4f61a0b1c2d3e4f50601"
#define VML_MSGID_LEASE_RELEASED "3b8f5a7c9e2d4f61a0b1c2d3e4f50602"
#define VML_MSGID_LEASE_LOST     "3b8f5a7c9e2d4f61a0b1c2d3e4f50603"
#define VML_MSGID_LEASE_TRANSFERRED "3b8f5a7c9e2d4f61a0b1c2d3e4f50604"
#define VML_MSGID_LEASE_DELETED   "3b8f5a7c9e2d4f61a0b1c2d3e4f50605"  /* deleted from storage here */
#define VML_MSGID_LEASE_VANISHED  "3b8f5a7c9e2d4f61a0b1c2d3e4f50606"  /* ... by another host */
#define VML_MSGID_LEASE_REQUESTED "3b8f5a7c9e2d4f61a0b1c2d3e4f50607"  /* another host asks for it */
#define VML_MSGID_LEASE_ASKED     "3b8f5a7c9e2d4f61a0b1c2d3e4f50608"  /* this host asked its owner */
#define VML_MSGID_LEASE_SEIZING   "3b8f5a7c9e2d4f61a0b1c2d3e4f50609"  /* a seize asked the owner */
#define VML_MSGID_LEASE_FENCED    "3b8f5a7c9e2d4f61a0b1c2d3e4f5060a"  /* the VM process fenced */
#define VML_MSGID_LEASE_ADOPTED   "3b8f5a7c9e2d4f61a0b1c2d3e4f5060b"  /* held still, after a restart */
#define VML_MSGID_LOCKSPACE_JOINED "3b8f5a7c9e2d4f61a0b1c2d3e4f50611"
#define VML_MSGID_LOCKSPACE_LEFT   "3b8f5a7c9e2d4f61a0b1c2d3e4f50612"
#define VML_MSGID_LOCKSPACE_LOST   "3b8f5a7c9e2d4f61a0b1c2d3e4f50613"
#define VML_MSGID_STORAGE_FAILING  "3b8f5a7c9e2d4f61a0b1c2d3e4f50621"
#define VML_MSGID_STORAGE_RECOVERED "3b8f5a7c9e2d4f61a0b1c2d3e4f50622"
#define VML_MSGID_SANLOCK_GONE     "3b8f5a7c9e2d4f61a0b1c2d3e4f50631"
#define VML_MSGID_SANLOCK_BACK     "3b8f5a7c9e2d4f61a0b1c2d3e4f50632"
#define VML_MSGID_SERVICE_STARTED  "3b8f5a7c9e2d4f61a0b1c2d3e4f50641"
#define VML_MSGID_SERVICE_STOPPING "3b8f5a7c9e2d4f61a0b1c2d3e4f50642"
#define VML_MSGID_CALL_REFUSED     "3b8f5a7c9e2d4f61a0b1c2d3e4f50651"

/* What one message is about; every member may be left 0/NULL. */
typedef struct {
  const char *uuid;        /* VMLEASE_UUID: the VM's lease */
  const char *lockspace;   /* VMLEASE_LOCKSPACE */
  const char *path;        /* VMLEASE_PATH: storage (file or device) */
  guint64     host_id;     /* VMLEASE_HOST_ID */
  guint       caller_uid;  /* VMLEASE_CALLER_UID, with has_caller */
  gboolean    has_caller;
  int         holder_pid;  /* VMLEASE_HOLDER_PID */
  const char *step;        /* VMLEASE_TRANSFER_STEP */
  const char *message_id;  /* MESSAGE_ID: an event above */
} VmlLogAbout;

void vml_log (GLogLevelFlags     level,
              const VmlLogAbout *about,
              const char        *format,
              ...) G_GNUC_PRINTF (3, 4);

/* A lockspace's message: vml_log() with VMLEASE_LOCKSPACE. */
void vml_log_lockspace (GLogLevelFlags level,
                        const char    *lockspace,
                        const char    *message_id,
                        const char    *format,
                        ...) G_GNUC_PRINTF (4, 5);

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
