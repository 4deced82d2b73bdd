/* vml-cmd-migrate.h: what the files of "vmleasectl migrate" share: the
 * two hosts, the migration's state, and its steps (one in flight, or two
 * at once with --pipelined; vml-cmd-migrate-steps.c). */
#pragma once

#include "vml-cmd.h"

typedef struct {
  const char   *role;      /* "source", "destination" */
  char         *label;     /* "host 1", or the address */
  VmlCli       *cli;       /* its own bus connection */
  VmleaseLease *lease;
} Side;

typedef struct {
  VmlCli     *cli;         /* the command's, for --json */
  const char *uuid;
  gboolean    postcopy;
  gboolean    pipelined;   /* perform and finish at once */
  const char *fail_at;     /* NULL, "prepare", "perform", "finish" */
  VmleaseTransferOptions *prepare_options;
  guint32     wait;
  Side        src, dst;
  JsonBuilder *steps;      /* for --json */
  gint64      started;
  double      blackout_ms; /* < 0: not measured */
} Migration;

typedef enum {
  STEP_RECOVERY     = 1 << 0,   /* undoing after a failure */
} StepFlags;

typedef struct {
  Migration  *m;
  Side       *side;
  const char *name;
  gboolean    recovery;
  VmlCliWait *wait;
  gint64      sent, answered;
} StepCall;

void     step_call_free    (StepCall *call);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StepCall, step_call_free)

StepCall *step_send        (Migration              *m,
                            Side                   *side,
                            VmleaseTransferStep     step,
                            const char             *token,
                            VmleaseTransferOptions *options,
                            StepFlags               flags);
char     *step_end         (StepCall               *call,
                            GError                **error);
char     *run_step         (Migration              *m,
                            Side                   *side,
                            VmleaseTransferStep     step,
                            const char             *token,
                            VmleaseTransferOptions *options,
                            StepFlags               flags,
                            GError                **error);

VmleaseTransferOptions *undo_options    (Migration *m,
                                         gboolean   failure);
VmleaseTransferOptions *perform_options (Migration *m);
VmleaseTransferOptions *failure_options (void);

void     migrate_side_error (Side        *side,
                             GError     **error,
                             const char  *where);
