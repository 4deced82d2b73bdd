/* vml-options.h: checks on what callers send, before anything changes.
 * Every check fails with a VML_ERROR and a sentence a person can act on. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* One accepted key of an a{sv} options argument. */
typedef struct {
  const char *key;
  const char *type;   /* GVariant type string, e.g. "u" */
} VmlOptionSpec;

/* Every key of @options must appear in @specs (terminated by a {NULL}
 * entry) with exactly that type. @method names the call in messages. */
gboolean     vml_options_check          (GVariant            *options,
                                         const char          *method,
                                         const VmlOptionSpec *specs,
                                         GError             **error);

gboolean     vml_check_uuid             (const char *uuid, GError **error);
gboolean     vml_check_lockspace_name   (const char *name, GError **error);
gboolean     vml_check_vm_name          (const char *name, GError **error);
gboolean     vml_check_host_id          (guint64 host_id, GError **error);
gboolean     vml_check_io_timeout       (guint io_timeout, GError **error);
gboolean     vml_check_aligned_offset   (guint64 offset, GError **error);
/* A "wait" option (seconds; Acquire, Transfer confirm and cancel): at most
 * VML_WAIT_MAX_S. A wait is work done for a caller, and it blocks the
 * lease's other calls meanwhile, so it has an end that a caller cannot
 * move. @method names the call to make again to wait longer. */
#define VML_WAIT_MAX_S 3600
gboolean     vml_check_wait             (guint wait_s, const char *method, GError **error);
/* An absolute path to an existing regular file or block device that we can
 * open for reading and writing: VML_ERROR_NOT_FOUND when it does not exist. */
gboolean     vml_check_storage_path     (const char *path, GError **error);

typedef enum {
  VML_MODE_EXCLUSIVE,
  VML_MODE_SHARED,
} VmlMode;

typedef enum {
  VML_FENCE_NONE,
  VML_FENCE_KILL,
  VML_FENCE_PAUSE,
} VmlFence;

gboolean     vml_mode_from_string       (const char *str, VmlMode *mode, GError **error);
const char  *vml_mode_to_string         (VmlMode mode);
gboolean     vml_fence_from_string      (const char *str, VmlFence *fence, GError **error);
const char  *vml_fence_to_string        (VmlFence fence);
/* A VM process id a caller names as fence target: 1 .. PID_MAX_LIMIT, and
 * a running process. */
gboolean     vml_check_fence_pid        (guint pid, GError **error);
/* The "pid" u and "fence" s options (Acquire, Transfer prepare): fence
 * defaults to kill with a pid and none without; a fence other than none
 * needs a pid. */
gboolean     vml_fence_options_parse    (GVariant *options, VmlFence *fence, guint *pid,
                                         GError **error);

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

/* /org/example/VMLease/vm/<uuid with '-' replaced by '_'>; @uuid must be valid. */
char        *vml_lease_object_path      (const char *uuid);

G_END_DECLS

G_BEGIN_DECLS
/* @path must be at least @offset + @length bytes long (files and block
 * devices alike). */
gboolean     vml_check_storage_range    (const char *path,
                                         guint64     offset,
                                         guint64     length,
                                         GError    **error);
G_END_DECLS
