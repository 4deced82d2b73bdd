/* vmlease-lockspace.h: VmleaseLockspace, one lockspace a host has joined, as
 * the manager's Lockspaces property lists it. */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

#define VMLEASE_TYPE_LOCKSPACE (vmlease_lockspace_get_type ())
G_DECLARE_FINAL_TYPE (VmleaseLockspace, vmlease_lockspace, VMLEASE, LOCKSPACE, GObject)

const char *vmlease_lockspace_get_name       (VmleaseLockspace *self);
guint64     vmlease_lockspace_get_host_id    (VmleaseLockspace *self);
const char *vmlease_lockspace_get_path       (VmleaseLockspace *self);
guint64     vmlease_lockspace_get_offset     (VmleaseLockspace *self);
const char *vmlease_lockspace_get_state      (VmleaseLockspace *self);
guint       vmlease_lockspace_get_io_timeout (VmleaseLockspace *self);

G_END_DECLS
