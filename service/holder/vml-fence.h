/* vml-fence.h: a lease's mode and fence as callers name them, the one
 * parser of the fence options (Acquire, Transfer prepare), and the VM
 * process a caller names as fence target, pinned from the check to the
 * fence. VmlFence itself is the holder protocol's (vml-holder-protocol.h),
 * so vmleased, the holder and the D-Bus API share one set of names. */
#pragma once

#include <gio/gio.h>

#include "vml-holder-protocol.h"

G_BEGIN_DECLS

typedef enum {
  VML_MODE_EXCLUSIVE,
  VML_MODE_SHARED,
} VmlMode;

gboolean     vml_mode_from_string       (const char *str, VmlMode *mode, GError **error);
const char  *vml_mode_to_string         (VmlMode mode);
gboolean     vml_fence_from_string      (const char *str, VmlFence *fence, GError **error);
const char  *vml_fence_to_string        (VmlFence fence);

/* A VM process id a caller names as fence target: 1 .. PID_MAX_LIMIT, and
 * a running process. */
gboolean     vml_check_fence_pid        (guint pid, GError **error);
/* The "pid" u, "fence" s and "qmp" s options (Acquire, Transfer prepare
 * and finish): fence defaults to kill with a pid and none without; a fence
 * other than none needs a pid; qmp (*qmp: transfer full, NULL without it)
 * only goes with fence pause, and must pass vml_check_qmp_path(). */
gboolean     vml_fence_options_parse    (GVariant *options, VmlFence *fence, guint *pid,
                                         char **qmp, GError **error);
/* A QMP socket path for the fence: absolute, shorter than a unix socket
 * address allows (sun_path), and no blanks or control characters (it goes
 * on the holder's claim line). It need not exist yet: the VM process may
 * create it after Acquire. */
gboolean     vml_check_qmp_path         (const char *path, GError **error);

/* A fence target, pinned from the check to the fence: a pidfd on it (-1
 * where the kernel has none) and the uids that decide who may signal it. */
typedef struct {
  int   pidfd;
  guint real_uid;
  guint saved_uid;
} VmlFenceTarget;

gboolean     vml_fence_target_open      (guint pid, VmlFenceTarget *target, GError **error);
void         vml_fence_target_close     (VmlFenceTarget *target);
/* Whether @uid could signal the target itself (kill(2)'s rule for a caller
 * whose real and effective uids are @uid): root, or the target's real or
 * saved uid. */
gboolean     vml_fence_target_signalable_by (const VmlFenceTarget *target, guint uid);

G_END_DECLS
