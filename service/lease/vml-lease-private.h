/* vml-lease-private.h: VmlLease's fields and what its files share. Nothing
 * outside service/lease/ includes it.
 *
 * The files form layers, lowest first; a file calls only files listed
 * before it here, never one listed after it:
 *   vml-disk.c                         disk keys, modes, resource names
 *   vml-transfer.c, vml-transfer-note.c  the hand-off as a plain struct,
 *                                      the begin token's and disks' notes
 *   vml-lease-sanlock.c                the one door to sanlock
 *   vml-lease-core.c                   the object, its state and properties
 *   vml-lease-queue.c                  the operation queue, who may act
 *   vml-lease-record.c                 the state record
 *   vml-lease-storage.c                StorageState and its Warning
 *   vml-lease-disks.c                  the disk leases and their holders
 *   vml-lease-loss.c                   the holder's life, the fence, Lost
 *   vml-lease-acquire.c, -release.c, -attach.c, -inquire.c, -delete.c
 *                                      operations
 *   vml-lease-transfer-base.c < -transfer-marker.c < -transfer-convert.c < -transfer-disks.c
 *     < -transfer-steps.c < -transfer.c  Transfer
 *   vml-lease-dbus.c                   construction and D-Bus dispatch
 *   vml-lease-restore.c                from a record, after a restart
 * Each section below names the file that defines what it declares. */
#pragma once

#include "vml-disk.h"
#include "vml-fence.h"
#include "vml-holder.h"
#include "vml-lease-sanlock.h"
#include "vml-lease.h"
#include "vml-log.h"
#include "vml-options.h"
#include "vml-qmp.h"
#include "vml-transfer.h"

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
  LEASE_CONVERTING,   /* the destination after finish: shared → exclusive in the background */
} LeaseState;

#define LEASE_N_STATES (LEASE_CONVERTING + 1)

/* One disk lease held with the VM lease (vml-lease-disks.c). */
typedef struct {
  char      *key;
  char      *name;     /* sanlock resource name */
  VmlMode    mode;
  guint64    offset;   /* in the lockspace's storage */
  VmlHolder *holder;   /* the disk holder keeping it; NULL: not held here
                        * (the source's, given to the destination at perform) */
  gboolean   common;   /* in a hand-off: named by both sides, so it moves
                        * (taken shared on the destination at prepare) */
  gboolean   done;     /* a worker's copy: already let go in this step */
} LeaseDisk;

struct _VmlLease {
  GObject                parent_instance;

  /* Set by vml_lease_new, never changed after; worker threads read the
   * facts of where the lease is (uuid ... indexed) and use the door. */
  VmlAuthority          *authority;
  VmlStore              *store;
  VmlHolderPool         *holders;
  char                  *uuid;
  char                  *name;
  VmlLockspace          *lockspace;
  char                  *path;
  guint64                offset;
  gboolean               indexed;   /* allocated from the lockspace's resource index */
  char                  *object_path;
  VmlLeaseSanlock       *sanlock;   /* the door to sanlock, with the command lock */
  VmlDbusObjectSkeleton *object;
  VmlDbusLease          *iface;

  /* Everything below: the main loop only. Worker threads get copies. */
  LeaseState             state;
  VmlMode                mode;
  guint                  owner_uid;
  guint64                lver;
  VmlHolder             *holder;
  VmlHolder             *acquiring_holder;      /* while acquiring: recorded, not yet holding */
  VmlHolder             *marker_holder;         /* after a post-copy perform: keeps the marker */

  /* The fence: chosen by the operation that took the lease, watched and
   * applied by vml-lease-loss.c */
  VmlFence               fence;
  guint                  fence_pid;
  guint64                fence_start;           /* start time of fence_pid */
  int                    fence_pidfd;           /* -1: none */
  char                  *fence_qmp;             /* QMP socket of a pause fence; NULL: SIGSTOP */
  VmlQmp                *transfer_qmp;          /* prepare {resume}: the destination QEMU's
                                                 * monitor, connected for finish's resume */

  /* A waiting Acquire (vml-lease-acquire.c), for vml_lease_describe_wait */
  gint64                 acquire_wait_deadline; /* an Acquire waits until then; 0: none */
  guint                  acquire_wait_uid;      /* ... for this uid */

  /* From the record, until restored (vml-lease-restore.c) */
  pid_t                  recorded_holder_pid;
  guint64                recorded_holder_start;

  /* The hand-off in progress here: its role, id, step and peer change
   * through lease_transfer_set, _clear and _load only, which keep the
   * TransferStep property in step. */
  VmlTransfer            transfer;

  /* The disk leases held with it (LeaseDisk, sorted by key), and the
   * holder processes keeping them, VML_DISKS_PER_HOLDER each at most: the
   * VM lease's holder keeps the VM lease (and the marker) only, so a disk
   * never takes its place. All are one unit with self->holder. */
  GPtrArray             *disks;
  GPtrArray             *disk_holders;
  /* Disks a take is asking sanlock for right now, written to the record
   * before it asks (write-ahead; LeaseDisk with their holders); NULL until
   * the first (vml-lease-disks.c) */
  GPtrArray             *pending_disks;
  /* From the record: how many disks that take asked for (its lines, those
   * of holders gone since too), so that restore can tell it finished */
  guint                  pending_asked;
  /* From the record: a disk holder it names is gone (vml-lease-restore.c) */
  char                  *missing_disk;
  /* What went in the loss being reported ("lease" or disks' names, and
   * their keys: blank-separated when several went at once). */
  char                  *lost_resource;
  char                  *lost_disk;

  /* Holders lost here so far: an operation that ran across a loss (its
   * holder exited) applies nothing of what it did. */
  guint                  losses;
  gboolean               vanished;              /* gone from storage; its object is removed */

  GQueue                 ops;                   /* of Op; the head is running */
};

/* What a message about this lease is about: vml_log (level,
 * LEASE_ABOUT (self, .holder_pid = pid), ...). */
#define LEASE_ABOUT(self, ...) \
  (&(VmlLogAbout) { .uuid = (self)->uuid, \
                    .lockspace = vml_lockspace_get_name ((self)->lockspace), __VA_ARGS__ })

/* ---- vml-disk.c ------------------------------------------------------ */

LeaseDisk *lease_disk_new            (const char *key, const char *name, VmlMode mode,
                                      guint64 offset);
/* Key, name, mode, offset, holder (a new ref) and common; not done. */
LeaseDisk *lease_disk_copy           (const LeaseDisk *disk);
void       lease_disk_free           (LeaseDisk *disk);

/* ---- vml-lease-core.c ------------------------------------------------ */

extern const char *const lease_state_names[LEASE_N_STATES];

gboolean  lease_state_is_held        (LeaseState state);
/* A holder of this lease's process: a held lease's, or one in a hand-off. */
gboolean  lease_state_has_holder     (LeaseState state);
void      lease_set_state            (VmlLease *self, LeaseState state);
void      lease_publish_holding      (VmlLease *self);
gboolean  lease_lockspace_ready      (VmlLease *self, GError **error);
gboolean  lease_is_gone_from_storage (VmlLease *self, const GError *error);
/* The lease went from storage: its object goes (signal "vanished"), unless
 * an operation is queued or runs; one that starts afterwards is NotFound. */
void      lease_vanish               (VmlLease *self);
/* The lease no longer listens to its holder, and lets go of the object. */
void      lease_drop_holder          (VmlLease *self);
void      lease_transfer_set         (VmlLease *self, VmlTransferRole role, const char *id,
                                      const char *step, guint64 peer);
void      lease_transfer_clear       (VmlLease *self);
void      lease_transfer_load        (VmlLease *self, GKeyFile *record);

/* ---- vml-lease-queue.c ----------------------------------------------- */

/* Starts an operation taken from the queue; it ends with lease_finish_op. */
typedef void (*OpStart) (VmlLease *self, GTask *task);

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
/* The dispatch tells whose lease polkit was asked about (@owner). */
void      lease_remember_authorized_owner (GDBusMethodInvocation *invocation, guint owner);
/* Whether caller @uid may name @target as fence target: a process it could
 * signal itself. If not, polkit is asked for .manage now and FALSE
 * returned: @again then runs once more with polkit's yes (and this answers
 * TRUE), or the caller gets NotAuthorized. */
gboolean  lease_fence_target_allowed (VmlLease *self, GDBusMethodInvocation *invocation,
                                      guint uid, const VmlFenceTarget *target,
                                      VmlAuthorizedFunc again);

/* ---- vml-lease-record.c ---------------------------------------------- */

#define LEASE_RECORD_GROUP "lease"

void      lease_save_or_warn         (VmlLease *self);
/* The lease's disk lists as the record keeps them: a disk by key; */
LeaseDisk *lease_disks_find          (GPtrArray *disks, const char *key);
/* (Main loop) The write-ahead list of disks being taken (created empty
 * the first time), and its pruning before a save: entries now among
 * self->disks, or whose holder is gone, go. */
GPtrArray *lease_disks_pending       (VmlLease *self);
void       lease_disks_prune_pending (VmlLease *self);

/* ---- vml-lease-storage.c --------------------------------------------- */

/* StorageState follows the lockspace's state from now on; a lease with a
 * holder here emits Warning("storage-failing") when its lockspace turns
 * failing. */
void      lease_storage_follow       (VmlLease *self);
/* "ok", "failing", "lost" or "joining", as StorageState says. */
const char *lease_storage_state      (VmlLease *self);
/* For a lease that has just come to be held here (acquired, prepared,
 * adopted after a restart): the Warning, if its storage is failing now. */
void      lease_storage_warn_if_failing (VmlLease *self);

/* ---- vml-lease-disks.c ----------------------------------------------- */

/* A copy for a worker thread (holders referenced). */
GPtrArray *lease_disks_copy          (GPtrArray *disks);
/* The Disks property from self->disks. */
void       lease_disks_publish       (VmlLease *self);
/* (Main loop) @specs (VmlDiskSpec) located in the index: @done gets a
 * GPtrArray of LeaseDisk from lease_disks_locate_finish. */
void       lease_disks_locate        (VmlLease *self, GPtrArray *specs,
                                      GAsyncReadyCallback done, gpointer user_data);
GPtrArray *lease_disks_locate_finish (VmlLease *self, GAsyncResult *result, GError **error);
/* (Worker thread) All or nothing: @wanted (LeaseDisk, holder NULL) taken
 * by holders from @holders (the disk holders in use, with room as @held
 * leaves them) and new ones, spawned, claimed for the VM (@fence,
 * @fence_pid) and appended to @holders. On failure nothing of @wanted is
 * held, the new holders are gone from @holders and stopped. A disk marked
 * common is taken shared in sanlock (a hand-off's destination). */
gboolean   lease_disks_take          (VmlLease *self, GPtrArray *held, GPtrArray *wanted,
                                      GPtrArray *holders, VmlFence fence, guint fence_pid,
                                      const char *fence_qmp, GError **error);
/* (Worker thread) Undoes a take of @wanted that succeeded into an empty
 * @holders (an Acquire whose VM lease was not had): the disks released,
 * the holders stopped and gone from @holders, the pending record entries
 * forgotten. */
void       lease_disks_untake        (VmlLease *self, GPtrArray *wanted, GPtrArray *holders);
/* (Worker thread) perform's part: for each holder at once, @check each of
 * @disks marked common; only if all pass, release every one of @disks
 * (each marked done), again each holder at once. The first failure goes
 * to @error; nothing is released after a failed check. */
typedef gboolean (*LeaseDiskCheck) (VmlLease *self, LeaseDisk *disk, gpointer user_data,
                                    GError **error);
gboolean   lease_disks_check_then_release (VmlLease *self, GPtrArray *disks,
                                           LeaseDiskCheck check, gpointer check_data,
                                           GError **error);
/* How many of @disks @holder keeps. */
guint      lease_disks_kept_by       (GPtrArray *disks, VmlHolder *holder);
/* (Worker thread) Releases @disks (best effort: a gone holder held nothing). */
gboolean   lease_disks_let_go        (VmlLease *self, GPtrArray *disks, GError **error);
/* (Worker thread) After a restart: copies of those of @disks (copies, with
 * holders) that sanlock says their holder holds now; NULL when sanlock
 * cannot say. With @stop_empty, a holder of @disks that holds nothing at
 * all is stopped. */
GPtrArray *lease_disks_still_held    (VmlLease *self, GPtrArray *disks, gboolean stop_empty);
/* (Worker thread) Lets go of @disks (copies) and stops their holders. */
void       lease_disks_let_go_all    (VmlLease *self, GPtrArray *disks);
/* (Main loop) After a restart, from what sanlock said (@held_now: of the
 * recorded disks, NULL: unknown; @pending_held: of the pending ones): the
 * pending disks held become the lease's, the pending list empties, and
 * unless @expect_gone a recorded disk no longer held is a loss: its name
 * and key go to lost_resource and lost_disk, why to missing_disk. */
void       lease_disks_restored      (VmlLease *self, GPtrArray *held_now,
                                      GPtrArray *pending_held, gboolean expect_gone);
/* (Main loop) The lease keeps no disks any more (their holders were
 * stopped). */
void       lease_disks_forget        (VmlLease *self);
/* (Worker thread) Seize: asks the hosts holding @disks exclusively for
 * this same VM lease (the disk's note names it) to give them up. */
void       lease_disks_seize         (VmlLease *self, GPtrArray *disks);
/* (Main loop) Disk holders that keep no disk of self->disks are told to go. */
void       lease_disks_end_idle_holders (VmlLease *self);
/* (Main loop) The unit is lost: every disk holder is told to stop at once
 * (SIGTERM: it fences the VM and exits, and sanlock frees its disks). */
void       lease_disks_kill_all      (VmlLease *self);

/* ---- vml-lease-loss.c ------------------------------------------------ */

/* Watches a disk holder of this lease: its exit loses the whole unit. */
void      lease_adopt_disk_holder    (VmlLease *self, VmlHolder *holder);

void      lease_adopt_holder         (VmlLease *self, VmlHolder *holder);
void      lease_watch_fence_pid      (VmlLease *self, guint fence_pid, guint64 start_time);
/* The same with the pidfd taken when the caller named it (@target's is
 * taken over), so the process checked is the process fenced. */
void      lease_take_fence_target    (VmlLease *self, guint fence_pid, VmlFenceTarget *target);
void      lease_report_lost          (VmlLease *self, const char *reason, pid_t holder_pid,
                                      const char *why);
/* The holder process @pid ended by itself with exit @status (-1: unknown,
 * then its note in the state directory is asked): Lost "revoked" or
 * "lockspace-failed" (it was revoked and fenced), "sanlock-gone" (the
 * sanlock daemon closed its connection; it fenced; the lockspace is lost
 * too), else "holder-exited". @when ("" or " while ...") goes into the
 * message. */
void      lease_report_holder_end    (VmlLease *self, pid_t pid, int status, const char *when);

/* ---- the D-Bus methods, for vml-lease-dbus.c's table ----------------- */

/* vml-lease-acquire.c */
void      lease_acquire_authorized   (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);
/* vml-lease-release.c (also vml_lease_drop_async) */
void      lease_release_authorized   (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);
/* vml-lease-inquire.c */
void      lease_inquire_authorized   (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);
/* vml-lease-attach.c */
void      lease_attach_disks_authorized (GObject *object, GDBusMethodInvocation *invocation,
                                         guint uid);
void      lease_detach_disks_authorized (GObject *object, GDBusMethodInvocation *invocation,
                                         guint uid);
/* vml-lease-transfer.c */
void      lease_transfer_authorized  (GObject *object, GDBusMethodInvocation *invocation,
                                      guint uid);

G_END_DECLS
