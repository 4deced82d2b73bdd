/* vml-options.h: checks on what callers send, before anything changes: the
 * keys and types of an options argument, and the names, ids, offsets,
 * waits and storage paths methods take (the fence options are checked in
 * holder/vml-fence.h). Every check fails with a VML_ERROR and a sentence a
 * person can act on. */
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

/* @path must be at least @offset + @length bytes long (files and block
 * devices alike). */
gboolean     vml_check_storage_range    (const char *path,
                                         guint64     offset,
                                         guint64     length,
                                         GError    **error);

G_END_DECLS
