/* vml-storage-monitor.h: watches the block devices under this host's
 * lockspaces through udev, and reports storage trouble (the device removed,
 * or gone read-only) at once, before sanlock's own renewal timeout. */
#pragma once

#include <glib-object.h>

#include "vml-lockspace.h"

G_BEGIN_DECLS

#define VML_TYPE_STORAGE_MONITOR (vml_storage_monitor_get_type ())
G_DECLARE_FINAL_TYPE (VmlStorageMonitor, vml_storage_monitor, VML, STORAGE_MONITOR, GObject)

/* Listens for "block" uevents on the thread-default main context. On
 * trouble with a watched device it calls vml_lockspace_mark_failing() on
 * the lockspace, then emits "device-failing" (VmlLockspace *, const char
 * *why) — whether or not the lockspace was joined. When a device that went
 * read-only is writable again it calls vml_lockspace_mark_recovered() and
 * emits "device-recovered" (VmlLockspace *, const char *why). A device
 * found read-only without a uevent (when watching starts, or when its
 * lockspace becomes joined) is trouble all the same. */
VmlStorageMonitor *vml_storage_monitor_new     (void);
/* Starts watching @lockspace's device if its path is a block device (the
 * device is matched by number); FALSE (nothing watched) for anything else,
 * e.g. a regular file. Watching a lockspace again replaces its watch. */
gboolean           vml_storage_monitor_watch   (VmlStorageMonitor *self,
                                                VmlLockspace      *lockspace);
void               vml_storage_monitor_unwatch (VmlStorageMonitor *self,
                                                VmlLockspace      *lockspace);

G_END_DECLS
