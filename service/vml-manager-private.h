/* vml-manager-private.h: what the Manager's files share, and the order in
 * which they may call each other (each only the ones listed before it):
 *
 *   vml-manager-tree.c       what the manager has: its lockspaces and lease
 *                            objects, in its tables, on the bus, in the
 *                            state directory
 *   vml-manager-sanlock.c    its door to sanlock: the daemon's watch, the
 *                            holds found at start-up, leases placed on storage
 *   vml-manager-lockspaces.c AddLockspace, RemoveLockspace
 *   vml-manager-leases.c     CreateLease, GetLease, DeleteLease
 *   vml-manager-restore.c    leases found again at start-up
 *   vml-manager-demand.c     lease objects exported on a call to their path
 *   vml-manager.c            the object, its method table, start-up
 *
 * Nothing outside these files includes it. */
#pragma once

#include <sys/types.h>

#include "vml-authority.h"
#include "vml-dbus-generated.h"
#include "vml-holder-pool.h"
#include "vml-lease.h"
#include "vml-lockspace.h"
#include "vml-manager.h"
#include "vml-storage-monitor.h"
#include "vml-store.h"

G_BEGIN_DECLS

/* On storage, from a lockspace's offset: the lockspace 1 MiB, then its
 * resource index 2 MiB; a lease placed by hand takes 1 MiB. Checked
 * against sanlock's alignment in vml-manager-sanlock.c. */
#define MANAGER_LOCKSPACE_AREA_SIZE (3 * 1024 * 1024)
#define MANAGER_LEASE_AREA_SIZE     (1024 * 1024)

struct _VmlManager {
  GObject                   parent_instance;
  GDBusConnection          *bus;
  VmlStore                 *store;
  VmlAuthority             *authority;
  VmlHolderPool            *holders;
  VmlLeaseContext           ctx;
  GDBusObjectManagerServer *object_manager;
  VmlDbusManager           *iface;
  GHashTable               *lockspaces;   /* name → VmlLockspace */
  GHashTable               *leases;       /* uuid → VmlLease */
  GHashTable               *pending;      /* uuids being created or looked up */
  GHashTable               *index_misses; /* uuid → IndexMiss: GetLease found nothing */
  VmlStorageMonitor        *storage;      /* udev: block devices under lockspaces */
  gboolean                  sanlock_running; /* the daemon answered the last probe */
  gboolean                  probing;       /* a probe runs in a worker thread */
  guint                     probe_id;      /* its main-loop timer */
  GHashTable               *rejoining;     /* names to join again since the daemon is back */
};

/* vml-manager-tree.c ---------------------------------------------------- */

/* Lockspace names in a stable order, so listings do not shuffle. */
GPtrArray    *manager_sorted_lockspace_names (VmlManager *self);
/* The Lockspaces and LockspaceDetails properties, from the table. */
void          manager_publish_lockspaces     (VmlManager *self);
void          manager_emit_lockspace_changed (VmlManager   *self,
                                              VmlLockspace *ls,
                                              const char   *state,
                                              const char   *error);
/* Into the table (watched, published), or out of it. */
void          manager_add_lockspace          (VmlManager *self, VmlLockspace *ls);
void          manager_drop_lockspace         (VmlManager *self, VmlLockspace *ls);
/* Remembered in the state directory, to be joined at the next start. */
void          manager_save_lockspace         (VmlManager *self, VmlLockspace *ls);
/* Out of the table and the state directory, its lease objects with it. */
void          manager_forget_lockspace       (VmlManager *self, VmlLockspace *ls);
/* Joins @ls again (in a worker thread); remembers it once joined. A
 * failure is logged by the lockspace and shows as its state. */
void          manager_rejoin_lockspace       (VmlManager *self, VmlLockspace *ls);
/* A lockspace other than @name already at @path:@offset, or NULL. */
VmlLockspace *manager_lockspace_at           (VmlManager *self,
                                              const char *name,
                                              const char *path,
                                              guint64     offset);

/* Puts @lease on the bus (ObjectManager) and in the table, or takes it off. */
void          manager_export_lease           (VmlManager *self, VmlLease *lease);
void          manager_unexport_lease         (VmlManager *self, VmlLease *lease);
/* The lease objects of @ls (new references). */
GPtrArray    *manager_leases_in              (VmlManager *self, VmlLockspace *ls);

/* vml-manager-sanlock.c ------------------------------------------------- */

/* Whether the local sanlock daemon runs: asked once now (blocking, as
 * start-up may), then every few seconds from a worker thread; while it is
 * gone every lockspace is lost, and when it is back they are joined again. */
void          manager_watch_sanlock          (VmlManager *self);

/* One VM lease that a vmlease-holder holds in this host's sanlock. */
typedef struct {
  pid_t     pid;
  guint64   start_time;
  char     *uuid;
  char     *lockspace;
  char     *path;
  guint64   offset;
  gboolean  shared;
} ManagerHold;

/* uuid → ManagerHold, from every vmlease-holder that is a client of this
 * host's daemon. Daemon calls only, no storage I/O. */
GHashTable   *manager_sanlock_find_holds     (void);

/* The lease of @uuid in @ls at an explicit @path:@offset: there already
 * (another lease there: Exists), or, if @create and the area holds none,
 * formatted there (NotFound without @create). Blocks: worker threads. */
gboolean      manager_sanlock_place_lease    (VmlLockspace *ls,
                                              const char   *uuid,
                                              const char   *path,
                                              guint64       offset,
                                              gboolean      create,
                                              GError      **error);
/* Where @ls's resource index has the lease of @uuid (NotFound if nowhere);
 * find_or_add adds it when missing, to be run under the index lock
 * (vml_lockspace_run_locked_index_async). Blocks: worker threads. */
gboolean      manager_sanlock_index_find     (VmlLockspace *ls,
                                              const char   *uuid,
                                              guint64      *offset,
                                              GError      **error);
gboolean      manager_sanlock_index_find_or_add (VmlLockspace *ls,
                                                 const char   *uuid,
                                                 guint64      *offset,
                                                 GError      **error);

/* vml-manager-lockspaces.c: the methods, after authorization ----------- */

void          manager_add_lockspace_authorized    (GObject *object,
                                                   GDBusMethodInvocation *invocation,
                                                   guint uid);
void          manager_remove_lockspace_authorized (GObject *object,
                                                   GDBusMethodInvocation *invocation,
                                                   guint uid);

/* vml-manager-leases.c: the methods, after authorization ---------------- */

GHashTable   *manager_index_misses_new        (void);
void          manager_create_lease_authorized (GObject *object,
                                               GDBusMethodInvocation *invocation,
                                               guint uid);
/* GetLease's lookup for vml-manager-demand.c: the lease (exported now),
 * or GetLease's error. */
void          manager_find_lease_async        (VmlManager *self, const char *uuid,
                                               GAsyncReadyCallback callback,
                                               gpointer user_data);
void          manager_get_lease_authorized    (GObject *object,
                                               GDBusMethodInvocation *invocation,
                                               guint uid);
void          manager_delete_lease_authorized (GObject *object,
                                               GDBusMethodInvocation *invocation,
                                               guint uid);

/* vml-manager-restore.c ------------------------------------------------- */

/* At start-up, every lease held here exported again (records checked
 * against sanlock). */
void          manager_restore_leases          (VmlManager *self);

/* vml-manager-demand.c ------------------------------------------------- */

/* Calls to lease paths not exported here find and export the lease first. */
guint         manager_demand_register         (VmlManager *self, GError **error);

G_END_DECLS
