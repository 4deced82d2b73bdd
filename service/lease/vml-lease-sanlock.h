/* vml-lease-sanlock.h: the lease's one door to sanlock. Every sanlock
 * command and every read of sanlock's areas that the lease object makes
 * goes through here, and nowhere else in lease/ is vml-sanlock.h or
 * vml-mode-block.h included. One door per lease, made with it; it knows
 * where the lease is (never changed after) and holds the lease's command
 * lock: sanlock does not queue two commands for one client (it answers
 * -EBUSY), so the pid-targeted commands for this lease's holders (marked
 * "locked") run one at a time.
 *
 * It knows nothing of VmlLease: the lease's files sit above it. Everything
 * but _new, _free and lease_sanlock_max_host_id BLOCKS on storage or the
 * sanlock daemon: worker threads only. */
#pragma once

#include <gio/gio.h>

#include "vml-holder.h"
#include "vml-lockspace.h"

G_BEGIN_DECLS

typedef struct _VmlLeaseSanlock VmlLeaseSanlock;

VmlLeaseSanlock *lease_sanlock_new  (const char *uuid, VmlLockspace *lockspace, const char *path,
                                     guint64 offset);
void             lease_sanlock_free (VmlLeaseSanlock *door);

/* The highest host id of the lease's lockspace (its sector size decides). */
guint64          lease_sanlock_max_host_id (VmlLeaseSanlock *door);

/* What storage says of the lease's owners (VmlSanlockOwners's fields). */
typedef struct {
  guint64  lver;              /* lease version */
  guint64  owner;             /* exclusive owner host id, 0 if none */
  guint64  owner_generation;  /* its generation, 0 if none */
  GArray  *shared_owners;     /* guint64 host ids holding it shared */
  gboolean owners_live;       /* an owner is alive: another host's acquire would fail */
  GArray  *live_hosts;        /* guint64 host ids whose host lease is live */
} VmlLeaseOwners;

void             lease_owners_free         (VmlLeaseOwners *owners);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmlLeaseOwners, lease_owners_free)
gboolean         lease_owners_hold_shared  (const VmlLeaseOwners *owners, guint64 host_id);

VmlLeaseOwners  *lease_sanlock_read_owners (VmlLeaseSanlock *door, GError **error);
/* @host_id's generation in the lease's lockspace, and whether sanlock sees
 * it live (0 and FALSE when it is not there). */
gboolean         lease_sanlock_host_generation (VmlLeaseSanlock *door, guint64 host_id,
                                                guint64 *generation, gboolean *live,
                                                GError **error);
/* Straight from the lease's area: whether @host_id's mode block says
 * shared, its generation, and the lease version (two sectors, not the
 * whole area; fails where direct reads do not work). */
gboolean         lease_sanlock_read_mode_block (VmlLeaseSanlock *door, guint64 host_id,
                                                gboolean *shared, guint64 *generation,
                                                guint64 *lver, GError **error);

/* locked: pid-targeted commands on behalf of @holder */
gboolean         lease_sanlock_acquire  (VmlLeaseSanlock *door, VmlHolder *holder, gboolean shared,
                                         guint64 lver, guint64 *lver_out, GError **error);
gboolean         lease_sanlock_release  (VmlLeaseSanlock *door, VmlHolder *holder, GError **error);
gboolean         lease_sanlock_convert  (VmlLeaseSanlock *door, VmlHolder *holder,
                                         gboolean to_shared, GError **error);
/* locked: whether holder @pid holds the lease, how, and at which version */
gboolean         lease_sanlock_inquire_holder (VmlLeaseSanlock *door, pid_t pid, gboolean *held,
                                               gboolean *shared, guint64 *lver, GError **error);
/* Whether holder @pid holds any lease at all (FALSE when sanlock cannot say). */
gboolean         lease_sanlock_holder_holds_any (pid_t pid);
/* Whether @pid holds this lease's own transfer marker and nothing else: the
 * source's holder of a hand-off whose perform let the lease go (or a
 * post-copy perform's kept marker) while vmleased stopped before it
 * recorded that. */
gboolean         lease_sanlock_holder_holds_only_marker (VmlLeaseSanlock *door, pid_t pid);

/* locked: Acquire's attempt. @holder takes the lease; a shared hold that
 * then finds the lease in a hand-off elsewhere lets go again (with that
 * Busy), and so does one whose caller left meanwhile (@cancellable; then
 * *@caller_left is set and @error is not). */
gboolean         lease_sanlock_acquire_attempt (VmlLeaseSanlock *door, VmlHolder *holder,
                                                gboolean shared, GCancellable *cancellable,
                                                guint64 *lver_out, gboolean *caller_left,
                                                GError **error);
/* Seize: asks the exclusive owner's host to give the lease up for @lver. */
gboolean         lease_sanlock_request  (VmlLeaseSanlock *door, guint64 lver, GError **error);
/* A message to @host_id (at @generation) in the lease's lockspace. */
gboolean         lease_sanlock_send_message (VmlLeaseSanlock *door, guint64 host_id,
                                             guint64 generation, guint64 event, guint64 data,
                                             GError **error);

/* The transfer marker: a lease of its own ("x-<uuid>", allocated in the
 * lockspace's index the first time) that the source holds from begin to
 * the end of its part. Other hosts cannot see a hand-off otherwise, and a
 * shared Acquire elsewhere must be refused during one (docs/decisions.md,
 * "Hand-off details"). It is a sanlock lease, so a source that dies lets go of it by
 * itself. Take and drop are locked; drop is best effort. */
gboolean         lease_sanlock_marker_take (VmlLeaseSanlock *door, VmlHolder *holder,
                                            GError **error);
void             lease_sanlock_marker_drop (VmlLeaseSanlock *door, VmlHolder *holder);
/* Main loop: makes the marker (under the index lock), once per lease; the
 * task's source object is @source_object. */
void             lease_sanlock_marker_create_async  (VmlLeaseSanlock *door, gpointer source_object,
                                                     const char *holder_path,
                                                     GAsyncReadyCallback callback,
                                                     gpointer user_data);
gboolean         lease_sanlock_marker_create_finish (GAsyncResult *result, GError **error);
/* Another host is handing this lease off right now (it holds the marker):
 * a shared acquisition here must not join. */
gboolean         lease_sanlock_marked_elsewhere (VmlLeaseSanlock *door, GError **error);
/* The source records the begin token it issues in the marker's note
 * (vml-transfer-note.h); the destination takes only that one (StaleToken
 * otherwise, naming host @source). */
gboolean         lease_sanlock_note_begin   (VmlLeaseSanlock *door, const char *begin_token,
                                             GError **error);
gboolean         lease_sanlock_note_vouches (VmlLeaseSanlock *door, const char *begin_token,
                                             guint64 source, GError **error);

/* Delete. The guard is a short-lived holder of no lease of ours: its
 * commands need not wait for the command lock. */
gboolean         lease_sanlock_guard_take    (VmlLeaseSanlock *door, VmlHolder *guard,
                                              GError **error);
void             lease_sanlock_guard_release (VmlLeaseSanlock *door, VmlHolder *guard);
/* Clears the lease's area on storage (an explicit lease's delete). */
gboolean         lease_sanlock_clear_area    (VmlLeaseSanlock *door, GError **error);
/* Under the index lock: the lease's entry and area go (an indexed lease's
 * delete). */
gboolean         lease_sanlock_index_delete  (VmlLeaseSanlock *door, GError **error);

/* Disk leases ("d" + hash of the key, vml-disk.h), allocated in the
 * lockspace's index like the marker (vml_lockspace_index_find_or_add_async,
 * vml-lease-disks.c). */
/* NOT locked (one thread per disk holder, the queue keeps other commands
 * away): @holder takes the disk @name at @offset (its key @key, for
 * messages) in sanlock mode @shared, for a VM that has it in @mode; a Busy
 * names the VM lease holding it and its host, as the disk's note says (the
 * taker writes its own with lease_sanlock_disk_note). A disk another VM has
 * exclusively (in a hand-off, it is shared in sanlock) is refused. */
gboolean         lease_sanlock_disk_acquire (VmlLeaseSanlock *door, VmlHolder *holder,
                                             const char *key, const char *name, guint64 offset,
                                             gboolean shared, gboolean mode_shared,
                                             GError **error);
/* The disk's note (vml-transfer-note.h): this host and VM lease took the
 * disk at @offset, in @mode_shared. Best effort, no sanlock command. */
void             lease_sanlock_disk_note    (VmlLeaseSanlock *door, guint64 offset,
                                             gboolean mode_shared);
/* NOT locked either: a holder's disks go in a thread of its own. */
gboolean         lease_sanlock_disk_release (VmlLeaseSanlock *door, VmlHolder *holder,
                                             const char *name, guint64 offset, GError **error);
/* locked: as lease_sanlock_convert, for a disk */
gboolean         lease_sanlock_disk_convert (VmlLeaseSanlock *door, VmlHolder *holder,
                                             const char *name, guint64 offset,
                                             gboolean to_shared, GError **error);
/* Whether @host_id (at @generation) holds the disk shared, from its mode
 * block (through sanlock where direct reads do not work). */
gboolean         lease_sanlock_disk_held_shared_by (VmlLeaseSanlock *door, const char *name,
                                                    guint64 offset, guint64 host_id,
                                                    guint64 generation, gboolean *held,
                                                    GError **error);
/* Where disk @name's lease is in the index, without the index lock (an
 * entry, once there, never moves nor goes): remembered per door after the
 * first answer, so an Acquire of the same disks again asks no storage.
 * NOT_FOUND when no host made it yet (then under the index lock:
 * vml_lockspace_index_find_or_add_async, and _remember what it found). */
gboolean         lease_sanlock_disk_lookup   (VmlLeaseSanlock *door, const char *name,
                                              guint64 *offset, GError **error);
void             lease_sanlock_disk_remember (VmlLeaseSanlock *door, const char *name,
                                              guint64 offset);
/* The names of what holder @pid holds in the lease's lockspace (a set;
 * empty for a pid sanlock does not know). No storage I/O. */
GHashTable      *lease_sanlock_holder_names (VmlLeaseSanlock *door, pid_t pid, GError **error);
/* Seize of a disk: when another host holds it exclusively and the disk's
 * note says for this same VM lease, asks that host to give it up (as
 * lease_sanlock_request, for the owner's version + 1; *@asked then). */
gboolean         lease_sanlock_disk_seize   (VmlLeaseSanlock *door, const char *name,
                                             guint64 offset, gboolean *asked, GError **error);
VmlLeaseOwners  *lease_sanlock_disk_owners  (VmlLeaseSanlock *door, const char *name,
                                             guint64 offset, GError **error);

G_END_DECLS
