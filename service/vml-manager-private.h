/* vml-manager-private.h: what the Manager's two files share: vml-manager.c
 * (lockspaces, start-up, the D-Bus object) and vml-manager-leases.c
 * (CreateLease, GetLease, DeleteLease: finding leases on storage and
 * exporting them) and vml-manager-restore.c (leases found again at
 * start-up). Nothing else includes it. */
#pragma once

#include "vml-authority.h"
#include "vml-dbus-generated.h"
#include "vml-holder-pool.h"
#include "vml-lease.h"
#include "vml-lockspace.h"
#include "vml-manager.h"
#include "vml-storage-monitor.h"
#include "vml-store.h"

G_BEGIN_DECLS

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

/* vml-manager.c */
GPtrArray *manager_sorted_lockspace_names (VmlManager *self);
/* Puts @lease on the bus (ObjectManager) and in the table, or takes it off. */
void       manager_export_lease           (VmlManager *self, VmlLease *lease);
void       manager_unexport_lease         (VmlManager *self, VmlLease *lease);

/* vml-manager-restore.c: at start-up, every lease held here exported
 * again (records checked against sanlock) */
void       manager_restore_leases         (VmlManager *self);

/* Joins @ls again (in a worker thread); remembers it once joined. */
void       manager_rejoin_lockspace       (VmlManager *self, VmlLockspace *ls);

/* vml-manager-sanlock.c: whether the local sanlock daemon runs. Probed
 * every few seconds from a worker thread; while it is gone every lockspace
 * is lost, and when it is back they are joined again. @running: what a
 * probe at start found. */
void       manager_watch_sanlock          (VmlManager *self, gboolean running);

/* vml-manager-leases.c: the methods, after authorization */
GHashTable *manager_index_misses_new       (void);
void       manager_create_lease_authorized (GObject *object, GDBusMethodInvocation *invocation,
                                            guint uid);
void       manager_get_lease_authorized    (GObject *object, GDBusMethodInvocation *invocation,
                                            guint uid);
void       manager_delete_lease_authorized (GObject *object, GDBusMethodInvocation *invocation,
                                            guint uid);

G_END_DECLS
