/* vml-lease-private.h: what the files implementing VmlLease share
 * (vml-lease.c, vml-lease-acquire.c, vml-lease-delete.c,
 * vml-lease-handoff.c, vml-lease-inquire.c, vml-lease-loss.c,
 * vml-lease-record.c, vml-lease-release.c, vml-lease-storage.c,
 * vml-lease-transfer.c). Nothing outside them
 * includes it. */
#pragma once

#include "vml-holder.h"
#include "vml-lease.h"
#include "vml-fence.h"
#include "vml-options.h"
#include "vml-sanlock.h"
#include "vml-token.h"

G_BEGIN_DECLS

#define HOLDER_STOP_MS 5000

typedef enum {
  LEASE_FREE,
  LEASE_ACQUIRING,
  LEASE_HELD,
  LEASE_HELD_SHARED,
  LEASE_RELEASING,
  LEASE_MIGRATING_OUT,
  LEASE_MIGRATING_IN,
  LEASE_LOST,
} LeaseState;

#define LEASE_N_STATES (LEASE_LOST + 1)
extern const char *const lease_state_names[LEASE_N_STATES];

typedef enum {
  TRANSFER_NONE,
  TRANSFER_SOURCE,
  TRANSFER_DESTINATION,
} VmlTransferRole;


struct _VmlLease {
  GObject                parent_instance;

  VmlAuthority          *authority;
  VmlStore              *store;
  VmlHolderPool         *holders;

  /* Immutable after construction; read by worker threads. */
  char                  *uuid;
  char                  *name;
  VmlLockspace          *lockspace;
  char                  *path;
  guint64                offset;
  gboolean               indexed;   /* allocated from the lockspace's resource index */
  char                  *object_path;

  VmlDbusObjectSkeleton *object;
  VmlDbusLease          *iface;

  LeaseState             state;
  VmlMode                mode;
  VmlFence               fence;
  guint                  fence_pid;
  guint64                fence_start;           /* start time of fence_pid */
  int                    fence_pidfd;           /* -1: none */
  guint                  owner_uid;
  guint64                lver;
  VmlHolder             *holder;
  VmlHolder             *acquiring_holder;      /* while acquiring: recorded, not yet holding */
  gint64                 acquire_wait_deadline; /* an Acquire waits until then; 0: none */
  guint                  acquire_wait_uid;      /* ... for this uid */
  pid_t                  recorded_holder_pid;   /* from the record, until restored */
  guint64                recorded_holder_start;

  /* The migration hand-off in progress here (vml-lease-transfer.c). */
  VmlTransferRole        transfer_role;
  char                  *transfer_id;
  char                  *transfer_step;         /* last step done here */
  guint64                transfer_peer;         /* the other host's id, 0 until known */
  gboolean               transfer_postcopy;
  guint64                transfer_lver;         /* source: lease version at perform */
  char                  *transfer_waiting;      /* while a confirm/cancel waits: how long */
  char                  *committed_transfer;    /* a post-copy transfer the source finished */

  guint64                requested_by;          /* last TransferRequested, to drop repeats */
  guint64                requested_lver;
  gint64                 requested_at;

  /* Holders lost here so far: an operation that ran across a loss (its
   * holder exited) applies nothing of what it did. */
  guint                  losses;

  GMutex                 cmd_lock;
  GQueue                 ops;                   /* of Op; the head is running */
};


/* Starts an operation taken from the queue; it ends with lease_finish_op. */
typedef void (*OpStart) (VmlLease *self, GTask *task);

gboolean  lease_state_is_held        (LeaseState state);
void      lease_resource_of          (VmlLease *self, VmlSanlockResource *res);
void      lease_set_state            (VmlLease *self, LeaseState state);
void      lease_publish_holding      (VmlLease *self);
void      lease_save_or_warn         (VmlLease *self);
gboolean  lease_lockspace_ready      (VmlLease *self, GError **error);
gboolean  lease_is_gone_from_storage (VmlLease *self, const GError *error);
void      lease_vanish               (VmlLease *self);

void      lease_enqueue_op           (VmlLease *self, GTask *task, OpStart start);
void      lease_finish_op            (VmlLease *self, GVariant *reply, GError *error);
/* An operation answering a D-Bus call of @uid: when its turn comes, it is
 * refused if the lease meanwhile became another uid's than polkit was
 * asked about. */
GTask    *lease_invocation_task      (VmlLease *self, GDBusMethodInvocation *invocation,
                                      guint uid);
void      lease_enqueue_invocation   (VmlLease *self, GDBusMethodInvocation *invocation, guint uid,
                                      gpointer data, GDestroyNotify free_data, GError *error,
                                      OpStart start);
gboolean  lease_op_result_ok         (GAsyncResult *result, GError **error);
/* The running operation @op waits: @again (its next look) runs in @ms from
 * a main-loop timer, so the wait occupies no worker thread. */
void      lease_op_again_after       (GTask *op, guint ms, OpStart again);
/* Runs @func in a worker thread with @op's task data (which stays @op's);
 * @done gets @op as its user data. */
void      lease_op_work_in_thread    (VmlLease *self, GTask *op, GTaskThreadFunc func,
                                      GAsyncReadyCallback done);
/* The answer to an operation whose caller left the bus (it is not done). */
GError   *lease_caller_left_error    (void);

/* Pid-targeted sanlock commands for @holder, serialized by cmd_lock.
 * Worker threads only. */
gboolean  lease_holder_acquire       (VmlLease *self, VmlHolder *holder, gboolean shared,
                                      guint64 lver, guint64 *lver_out, GError **error);
gboolean  lease_holder_release       (VmlLease *self, VmlHolder *holder, GError **error);
gboolean  lease_holder_convert       (VmlLease *self, VmlHolder *holder, gboolean to_shared,
                                      GError **error);

void      lease_adopt_holder         (VmlLease *self, VmlHolder *holder);
void      lease_drop_holder          (VmlLease *self);
void      lease_watch_fence_pid      (VmlLease *self, guint fence_pid, guint64 start_time);
/* The same with the pidfd taken when the caller named it (@target's is
 * taken over), so the process checked is the process fenced. */
void      lease_take_fence_target    (VmlLease *self, guint fence_pid, VmlFenceTarget *target);
/* Whether caller @uid may name @target as fence target: a process it could
 * signal itself. If not, polkit is asked for .manage now and FALSE
 * returned: @again then runs once more with polkit's yes (and this answers
 * TRUE), or the caller gets NotAuthorized. */
gboolean  lease_fence_target_allowed (VmlLease *self, GDBusMethodInvocation *invocation,
                                      guint uid, const VmlFenceTarget *target,
                                      VmlAuthorizedFunc again);
void      lease_report_lost          (VmlLease *self, const char *reason, pid_t holder_pid,
                                      const char *why);
/* The holder process @pid ended by itself with exit @status (-1: unknown,
 * then its note in the state directory is asked): Lost "revoked" or
 * "lockspace-failed" (it was revoked and fenced), "sanlock-gone" (the
 * sanlock daemon closed its connection; it fenced; the lockspace is lost
 * too), else "holder-exited". @when ("" or " while ...") goes into the
 * message. */
void      lease_report_holder_end    (VmlLease *self, pid_t pid, int status, const char *when);

/* A holder of this lease's process: a held lease's, or one in a hand-off. */
gboolean  lease_state_has_holder     (LeaseState state);

/* vml-lease-transfer.c (the steps) */
void      lease_transfer_authorized  (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);
void      lease_transfer_clear       (VmlLease *self);

/* vml-lease-handoff.c (what a hand-off reads and records) */
/* floating a{sv}, NULL when none; @owners (may be NULL): what storage says */
GVariant *lease_transfer_info        (VmlLease *self, VmlSanlockOwners *owners);
void      lease_transfer_save        (VmlLease *self, GKeyFile *record);
void      lease_transfer_load        (VmlLease *self, GKeyFile *record);
/* Another host is handing this lease off right now (it holds the hand-off
 * marker): a shared acquisition here must not join. Worker threads only. */
gboolean  lease_transfer_marked_elsewhere (VmlLease *self, GError **error);
/* The key this host signs its tokens with (from the store's directory). */
GBytes   *lease_transfer_key         (VmlLease *self, GError **error);

/* vml-lease-acquire.c */
void      lease_acquire_authorized   (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);

/* vml-lease-release.c (also vml_lease_drop_async) */
void      lease_release_authorized   (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);

/* vml-lease-inquire.c */
void      lease_inquire_authorized   (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);

/* vml-lease-storage.c: StorageState follows the lockspace's state from now
 * on; a lease with a holder here emits Warning("storage-failing") when its
 * lockspace turns failing. */
void      lease_storage_follow       (VmlLease *self);
/* "ok", "failing", "lost" or "joining", as StorageState says. */
const char *lease_storage_state      (VmlLease *self);
/* For a lease that has just come to be held here (acquired, prepared,
 * adopted after a restart): the Warning, if its storage is failing now. */
void      lease_storage_warn_if_failing (VmlLease *self);

G_END_DECLS
