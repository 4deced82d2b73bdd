/* vml-lease-transfer-private.h: what the files of Transfer share, lowest
 * first: vml-lease-transfer-base.c (token checks, issuing, the ends of a
 * step) < vml-lease-transfer-marker.c < vml-lease-transfer-convert.c (the
 * conversion after finish) < vml-lease-transfer-disks.c (the disk leases
 * in each step) < vml-lease-transfer-steps.c (the six steps and their table) <
 * vml-lease-transfer.c (running a step, the D-Bus entry). Functions marked
 * "thread" block on storage or the sanlock daemon. */
#pragma once

#include "vml-lease-private.h"
#include "vml-qmp.h"
#include "vml-token.h"

G_BEGIN_DECLS

/* How often a waiting step looks at storage again. */
#define WAIT_POLL_MS 500

static inline guint64
lease_my_host_id (VmlLease *self)
{
  return vml_lockspace_get_host_id (self->lockspace);
}

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
  VmlFenceTarget  target;      /* prepare, finish: fence_pid, pinned from the check */
  char           *fence_qmp;   /* "qmp": the QMP socket of a pause fence, or NULL */
  gboolean        fence_given; /* finish: pid or fence given, replacing prepare's */
  gboolean        early;       /* finish with prepare's token: waits for perform */
  gboolean        share_checked; /* finish: its own share was looked at */
  gboolean        waited_across; /* finish: waited beyond its first pass */
  gboolean        resume;      /* finish: "cont" the guest through QMP once it may run */
  VmlQmp         *qmp;         /* ... the connection for it, made before the wait */
  char           *resume_failed; /* ... why QEMU did not resume it */
  char           *next;        /* ... the answer, held back until then */
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
  guint           again_ms;    /* ... or after this many ms, if not 0 */
  gboolean        needs_marker; /* begin: the marker lease must be made first */
  gboolean        write_ahead;  /* perform: "performing" is to be recorded (again) */
  gboolean        written_ahead; /* perform: recorded, with written_lver */
  guint64         written_lver;
  gboolean        checked;      /* perform: the destination holds it; the release is next */
  gboolean        marker_made;
  VmlHolder      *holder;      /* a new holder (prepare, or a re-acquire) */
  guint64         lver;
  guint64         my_gen;
  char           *transfer_id; /* begin: the new hand-off's */
  char           *issued;      /* begin: T1, issued (and noted) by the thread */
  /* Disk leases (vml-lease-transfer-disks.c) */
  GVariant       *disk_option; /* prepare's "disks" a(ss), NULL if not given */
  GPtrArray      *disks;       /* copies of the lease's (LeaseDisk); prepare: the wanted set */
  gboolean        disks_located;
  GPtrArray      *disk_holders; /* holders of the step's disks (new ones: prepare, take-back) */
  /* The conversion after finish (vml-lease-transfer-convert.c) */
  gboolean        marker_taken; /* the destination's holder took the marker */
  gint64          started;      /* monotonic, when the step started */
} StepData;

struct _StepSpec {
  const char          *name;
  const VmlOptionSpec *options;
  gboolean           (*check)  (VmlLease *self, StepData *data, GError **error);
  gboolean           (*work)   (VmlLease *self, StepData *data, GError **error);   /* thread */
  char              *(*done)   (VmlLease *self, StepData *data);                  /* next token */
};

/* ---- vml-lease-transfer-marker.c ------------------------------------- */

/* After a post-copy perform: @holder (the source's, holding nothing else)
 * keeps the transfer marker until host @dest holds the lease exclusively
 * or not at all, then lets go of it and ends. */
void      transfer_marker_keep       (VmlLease *self, VmlHolder *holder, guint64 dest);
/* The kept marker goes now (confirm, or the destination finished). */
void      transfer_marker_let_go     (VmlLease *self);

/* ---- vml-lease-transfer-convert.c ------------------------------------ */

/* The destination's lease is "converting" (finish answered): its share
 * becomes exclusive in the background, an operation queued on the lease;
 * if it cannot, the guest is fenced and Lost says "conversion-failed". */
void      start_conversion           (VmlLease *self);

/* ---- vml-lease-transfer-disks.c -------------------------------------- */

gboolean   transfer_disks_to_shared    (VmlLease *self, StepData *data, GError **error);  /* thread */
gboolean   transfer_disks_to_exclusive (VmlLease *self, StepData *data, GError **error);  /* thread */
GVariant  *transfer_disks_variant      (GPtrArray *disks);
GPtrArray *transfer_disks_wanted       (VmlLease *self, StepData *data, GError **error);
void       transfer_disks_mark_common  (StepData *data, GVariant *other_side);
gboolean   transfer_disks_perform      (VmlLease *self, StepData *data, GError **error);  /* thread */
gboolean   transfer_disks_let_go       (VmlLease *self, StepData *data, gboolean only_own,
                                        GError **error);                                  /* thread */
gboolean   transfer_disks_take_back    (VmlLease *self, StepData *data, GError **error);  /* thread */
void       transfer_disks_apply        (VmlLease *self, StepData *data);
gboolean   transfer_disks_set_fence    (VmlLease *self, StepData *data, GError **error);  /* thread */

/* ---- vml-lease-transfer-steps.c -------------------------------------- */

typedef enum {
  STEP_BEGIN,
  STEP_PREPARE,
  STEP_PERFORM,
  STEP_FINISH,
  STEP_CONFIRM,
  STEP_CANCEL,
  N_STEPS
} StepId;

extern const StepSpec lease_transfer_steps[N_STEPS];

/* vml-lease-transfer-end.c: confirm and cancel, for the table above */
gboolean   transfer_check_confirm      (VmlLease *self, StepData *data, GError **error);
gboolean   transfer_work_confirm       (VmlLease *self, StepData *data, GError **error);
char      *transfer_done_confirm       (VmlLease *self, StepData *data);
gboolean   transfer_check_cancel       (VmlLease *self, StepData *data, GError **error);
gboolean   transfer_work_cancel        (VmlLease *self, StepData *data, GError **error);
char      *transfer_done_cancel        (VmlLease *self, StepData *data);

/* perform's write-ahead: between its checks and its release, the step
 * "performing" and the lease version the checks read are recorded, so that
 * a restart after the release can still end the hand-off (take it back);
 * undone if the release fails. */
void      perform_write_ahead        (VmlLease *self, StepData *data);
void      perform_undo_write_ahead   (VmlLease *self);

#define STEP_IS(data, id) ((data)->spec == &lease_transfer_steps[id])

/* ---- vml-lease-transfer-base.c --------------------------------------- */

void      lease_step_data_free       (StepData *data);

/* WrongStep and StaleToken errors; both answer FALSE. */
gboolean  transfer_wrong_step        (GError **error, const char *format, ...)
                                      G_GNUC_PRINTF (2, 3);
gboolean  transfer_stale             (GError **error, const char *why);

gboolean  transfer_token_is_for_this_lease    (VmlLease *self, const VmlToken *token,
                                               GError **error);
gboolean  transfer_token_is_of_kind           (const VmlToken *token, VmlTokenKind kind,
                                               const char *step, GError **error);
gboolean  transfer_token_is_for_this_transfer (VmlLease *self, const VmlToken *token,
                                               GError **error);
/* The token handed to @step is of @kind, for this lease and this hand-off,
 * and carries this host's own earlier token of @mine_kind, unchanged. */
gboolean  transfer_token_answers_mine (VmlLease *self, StepData *data, const char *step,
                                       VmlTokenKind kind, VmlTokenKind mine_kind,
                                       GError **error);
/* The token handed back is this host's own, of @kind, for this lease and
 * this hand-off (finish side by side with perform: prepare's). */
gboolean  transfer_token_is_own      (VmlLease *self, StepData *data, VmlTokenKind kind,
                                      GError **error);
/* confirm after a post-copy perform: the token of finish, for this lease,
 * carrying this host's token of that (committed) perform. */
gboolean  transfer_token_answers_committed (VmlLease *self, StepData *data, GError **error);

/* @token, completed with this lease and hand-off, signed; NULL when there
 * is no key (logged). */
char     *transfer_issue             (VmlLease *self, VmlToken *token, GBytes *answers);
/* The token of @kind answering the one the step of @data was handed. */
char     *transfer_issue_answer      (VmlLease *self, VmlTokenKind kind, const StepData *data);
/* The key this host signs its tokens with (from the store's directory). */
GBytes   *lease_transfer_key         (VmlLease *self, GError **error);

/* A step done (or an end come to), in the log with the transfer's fields. */
void      transfer_log_step          (VmlLease *self, const char *what);
/* This host's part is over and it holds nothing. */
void      transfer_let_go            (VmlLease *self);
/* The source holds the lease exclusively again (confirm failure, cancel). */
void      transfer_source_holds_again (VmlLease *self, StepData *data);
/* cancel on a source whose lease someone took since perform. */
void      transfer_source_gives_up   (VmlLease *self);

/* thread: what storage says */
gboolean  lease_someone_else_shares  (VmlLease *self, VmlLeaseOwners *owners);
/* Whether no live host holds the lease; while one does and @deadline is
 * ahead, *@again is set (look again later), after it a Busy naming the
 * holder (@peer when storage does not say). */
gboolean  lease_is_free_by           (VmlLease *self, gint64 deadline, guint wait_s,
                                      guint64 peer, gboolean *again, GError **error);

/* finish {resume: true} (vml-lease-transfer-resume.c): the guest resumes
 * through its QMP socket (the lease's "qmp") the moment finish may answer,
 * not one round trip to the caller later. Check on the main loop; connect
 * in the worker, before finish waits; "cont" in a worker once finish's
 * work is recorded, then the answer (@next, taken). */
gboolean  transfer_resume_check      (VmlLease *self, StepData *data, GError **error);
gboolean  transfer_resume_connect    (VmlLease *self, StepData *data, GError **error);
void      transfer_resume_then_answer (VmlLease *self, GTask *op, char *next);

G_END_DECLS
