/* vml-lease.h: one VM lease and its D-Bus object (org.example.VMLease).
 *
 * Operations that change a lease (Acquire, Release, Transfer, Delete) run
 * one at a time per lease, in arrival order; their sanlock work runs in
 * worker threads. Different leases proceed in parallel. The files that
 * implement it, layer by layer, are listed in vml-lease-private.h. */
#pragma once

#include <gio/gio.h>

#include "vml-authority.h"
#include "vml-dbus-generated.h"
#include "vml-holder-pool.h"
#include "vml-lockspace.h"
#include "vml-store.h"

G_BEGIN_DECLS

#define VML_TYPE_LEASE (vml_lease_get_type ())
G_DECLARE_FINAL_TYPE (VmlLease, vml_lease, VML, LEASE, GObject)

/* What every lease needs from the service around it. */
typedef struct {
  VmlAuthority  *authority;
  VmlStore      *store;
  VmlHolderPool *holders;
} VmlLeaseContext;

VmlLease   *vml_lease_new             (const VmlLeaseContext *ctx,
                                       const char            *uuid,
                                       const char            *name,
                                       VmlLockspace          *lockspace,
                                       const char            *path,
                                       guint64                offset,
                                       gboolean               indexed);
/* From a state record; @lockspace is the one the record names. */
VmlLease   *vml_lease_new_from_record (const VmlLeaseContext *ctx,
                                       GKeyFile              *record,
                                       VmlLockspace          *lockspace,
                                       GError               **error);
/* The lockspace a record names (to look it up before _new_from_record). */
char       *vml_lease_record_lockspace (GKeyFile *record);

const char         *vml_lease_get_uuid        (VmlLease *self);
VmlLockspace       *vml_lease_get_lockspace   (VmlLease *self);
GDBusObjectSkeleton *vml_lease_get_object     (VmlLease *self);
const char         *vml_lease_get_object_path (VmlLease *self);
/* Held on this host, exclusively or shared. */
gboolean            vml_lease_is_held         (VmlLease *self);
/* An operation is running or queued. */
gboolean            vml_lease_is_busy         (VmlLease *self);
/* What an Acquire waiting for another host to let the lease go is doing
 * (who, how much longer), for a Busy; NULL when none waits. */
char               *vml_lease_describe_wait   (VmlLease *self);

/* What other hosts' messages about this lease carry as their event: a
 * 64-bit key of its UUID, the same on every host (never 0). Not its
 * offset: a lease at an explicit path may share an indexed lease's. */
guint64             vml_lease_message_key_of  (const char *uuid);
guint64             vml_lease_get_message_key (VmlLease *self);
/* Another host asked for this lease (a message in its lockspace): emits
 * TransferRequested if it is held here exclusively. */
void                vml_lease_transfer_requested (VmlLease *self,
                                                  guint64   from_host,
                                                  guint64   from_generation,
                                                  guint64   lver);

/* Writes the lease's state record. */
gboolean            vml_lease_save            (VmlLease *self, GError **error);
gboolean            vml_lease_forget          (VmlLease *self, GError **error);

/* After a restart: checks with sanlock whether the recorded holder still
 * holds the lease, adopts it if so, and otherwise reports it lost. */
void                vml_lease_restore         (VmlLease *self);
/* The same, when sanlock says holder @pid (started at @start_time) holds
 * the lease here (@shared: in shared mode): that holder, not the one the
 * record names, is checked and adopted, and a record that says free (or
 * there was none) yields to sanlock. */
void                vml_lease_restore_held_by (VmlLease *self,
                                               pid_t     pid,
                                               guint64   start_time,
                                               gboolean  shared);

/* Releases a held lease against its user's will (its lockspace is being
 * removed with force): it is reported Lost(@reason, a static string) and
 * its fence action is applied. */
void                vml_lease_drop_async      (VmlLease            *self,
                                               const char          *reason,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
gboolean            vml_lease_drop_finish     (VmlLease     *self,
                                               GAsyncResult *result,
                                               GError      **error);
/* Deletes the lease from storage (refused while any live host holds it). */
void                vml_lease_delete_async    (VmlLease            *self,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
gboolean            vml_lease_delete_finish   (VmlLease     *self,
                                               GAsyncResult *result,
                                               GError      **error);

G_END_DECLS
