/* vml-lockspace.h: one lockspace this host uses: where it is on storage,
 * this host's id in it, and whether sanlock holds our host lease there. */
#pragma once

#include <gio/gio.h>

#include "vml-log.h"
#include "vml-sanlock.h"

G_BEGIN_DECLS

#define VML_TYPE_LOCKSPACE (vml_lockspace_get_type ())
G_DECLARE_FINAL_TYPE (VmlLockspace, vml_lockspace, VML, LOCKSPACE, GObject)

typedef enum {
  VML_LOCKSPACE_JOINING,
  VML_LOCKSPACE_JOINED,
  VML_LOCKSPACE_FAILING,
  VML_LOCKSPACE_LOST,
  VML_LOCKSPACE_REMOVED,
} VmlLockspaceState;

VmlLockspace      *vml_lockspace_new           (const char *name,
                                                guint64     host_id,
                                                const char *path,
                                                guint64     offset,
                                                guint       io_timeout);
/* From a state record or config group; NULL with @error if incomplete. */
VmlLockspace      *vml_lockspace_new_from_keyfile (GKeyFile *keyfile, const char *group,
                                                   const char *name, GError **error);
void               vml_lockspace_to_keyfile    (VmlLockspace *self,
                                                GKeyFile     *keyfile,
                                                const char   *group);

const char        *vml_lockspace_get_name      (VmlLockspace *self);
guint64            vml_lockspace_get_host_id   (VmlLockspace *self);
const char        *vml_lockspace_get_path      (VmlLockspace *self);
guint64            vml_lockspace_get_offset    (VmlLockspace *self);
guint              vml_lockspace_get_io_timeout (VmlLockspace *self);
/* The sector size sanlock uses in the lockspace (512 or 4096): what it was
 * formatted with, learnt at each join; 0 until the first join got that far.
 * Every sanlock call and every direct read of its areas must use it. */
guint              vml_lockspace_get_sector_size (VmlLockspace *self);
/* The sector size of a lease of this lockspace at @path: the lockspace's
 * own, since sanlock reads and writes every lease of a lockspace with it
 * (a 512-byte-sector device takes 4096-byte I/O as well); before a join
 * told that, the storage's (vml_sanlock_sector_size_for() of its logical
 * block size; 512 for a regular file). Any thread. */
guint              vml_lockspace_sector_size_at (VmlLockspace *self,
                                                 const char   *path);
/* Whether a new lease of this lockspace can be written at @path: not where
 * the storage's logical sectors are larger than the lockspace's (a 4096-byte
 * device under a lockspace formatted with 512-byte sectors), nor larger
 * than sanlock can use. InvalidArgument saying which. Any thread. */
gboolean           vml_lockspace_check_lease_storage (VmlLockspace *self,
                                                      const char   *path,
                                                      GError      **error);
VmlLockspaceState  vml_lockspace_get_state     (VmlLockspace *self);
const char        *vml_lockspace_get_error     (VmlLockspace *self);
const char        *vml_lockspace_state_to_string (VmlLockspaceState state);
gboolean           vml_lockspace_is_joined     (VmlLockspace *self);
/* Same name, host id and location. */
gboolean           vml_lockspace_same_place    (VmlLockspace *self,
                                                VmlLockspace *other);

/* vml_log() about @self, with its name, storage path and host id as fields
 * (VMLEASE_LOCKSPACE, VMLEASE_PATH, VMLEASE_HOST_ID); @msgid (a
 * VML_MSGID_*) may be NULL; then a format and its arguments. @self is
 * evaluated more than once. Any thread. */
#define vml_lockspace_log(self, level, msgid, ...)                            \
  vml_log ((level), &(VmlLogAbout) {                                          \
             .lockspace = vml_lockspace_get_name (self),                      \
             .path = vml_lockspace_get_path (self),                           \
             .host_id = vml_lockspace_get_host_id (self),                     \
             .message_id = (msgid),                                           \
           }, __VA_ARGS__)

/* Fills @spec with pointers into @self (valid while @self lives). */
void               vml_lockspace_get_spec      (VmlLockspace        *self,
                                                VmlSanlockLockspace *spec);
/* (ststsu) for the Manager's Lockspaces property. */
GVariant          *vml_lockspace_to_variant    (VmlLockspace *self);
/* a{sv} (floating) for LockspaceChanged and the LockspaceDetails property:
 * "host_id", "path", "offset", "io_timeout", "sector_size" and, if @error
 * (else the lockspace's own error) is not NULL, "error". */
GVariant          *vml_lockspace_details       (VmlLockspace *self,
                                                const char   *error);

/* Whether sanlock has given up this host's lease in the lockspace (it
 * could not renew it on storage): the lockspace is gone from sanlock, or
 * our own host entry is failing, dead, or not renewed for 6 × io_timeout.
 * Asks the local sanlock daemon only. Worker threads. */
gboolean           vml_lockspace_failed_here   (VmlLockspace *self);
/* Main loop: the storage under a joined lockspace is in trouble (seen by
 * udev: its block device removed or read-only) before sanlock noticed;
 * state FAILING with @why as the error, so LockspaceChanged(name,
 * "failing"). Only from JOINED: FALSE (nothing changed) otherwise. */
gboolean           vml_lockspace_mark_failing  (VmlLockspace *self,
                                                const char   *why);
/* Main loop: the trouble udev saw is over (the device is writable again).
 * A FAILING lockspace becomes JOINED again once the local sanlock daemon
 * confirms that it still renews this host's lease there (asked in a worker
 * thread); anything else is left as it is. */
void               vml_lockspace_mark_recovered (VmlLockspace *self,
                                                 const char   *why);
/* Main loop: sanlock dropped it; LockspaceChanged(name, "lost"). */
void               vml_lockspace_mark_lost     (VmlLockspace *self,
                                                const char   *why);
/* The same, because the sanlock daemon went (it took every lockspace with
 * it): a daemon that answers again knows none of them, so the manager joins
 * them again, even when the daemon came back before its probe saw it gone. */
void               vml_lockspace_mark_lost_with_daemon (VmlLockspace *self,
                                                        const char   *why);
gboolean           vml_lockspace_lost_with_daemon      (VmlLockspace *self);

/* The resource name of the lease that serializes index updates across
 * hosts; created right after the index when a lockspace is formatted. */
#define VML_INDEX_LOCK_NAME "vmlease-index-lock"

typedef gboolean (*VmlIndexFunc) (VmlLockspace *self, gpointer data, GError **error);

/* Runs @func (in a worker thread) with the resource index locked against
 * every other host and every other update here, for a lookup-then-update
 * that must not race (sanlock's index accepts duplicate names, and
 * concurrent updates from several hosts can leave its internal lock held).
 * The lock is a sanlock lease held by a short-lived vmlease-holder; while
 * another host holds it (up to 90 s), the wait is a main-loop timer. Main
 * loop only; @data must live until @callback. */
void               vml_lockspace_run_locked_index_async  (VmlLockspace        *self,
                                                          const char          *holder_path,
                                                          VmlIndexFunc         func,
                                                          gpointer             data,
                                                          GAsyncReadyCallback  callback,
                                                          gpointer             user_data);
gboolean           vml_lockspace_run_locked_index_finish (VmlLockspace  *self,
                                                          GAsyncResult  *result,
                                                          GError       **error);
/* Finds each of @names (char *) in the resource index, adding those that
 * are not there yet, under the index lock as above; finishes with their
 * offsets in the order of @names. Main loop only. */
void               vml_lockspace_index_find_or_add_async  (VmlLockspace        *self,
                                                           const char          *holder_path,
                                                           GPtrArray           *names,
                                                           GAsyncReadyCallback  callback,
                                                           gpointer             user_data);
GArray            *vml_lockspace_index_find_or_add_finish (VmlLockspace  *self,
                                                           GAsyncResult  *result,
                                                           GError       **error);
/* The queue of index updates waiting here (vml-lockspace-index.c). */
GQueue            *vml_lockspace_index_queue   (VmlLockspace *self);

/* Joins (formatting first if @init) in a worker thread; "notify::state"
 * follows every change. */
void               vml_lockspace_join_async    (VmlLockspace        *self,
                                                gboolean             init,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean           vml_lockspace_join_finish   (VmlLockspace *self,
                                                GAsyncResult *result,
                                                GError      **error);
void               vml_lockspace_leave_async   (VmlLockspace        *self,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean           vml_lockspace_leave_finish  (VmlLockspace *self,
                                                GAsyncResult *result,
                                                GError      **error);

G_END_DECLS
