/* vmlease-acquire-options.h: VmleaseAcquireOptions, the typed options of
 * Acquire and AttachDisks (fence target, fence action, mode, wait, force or
 * request, disk leases). */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <glib-object.h>

#include "vmlease-enums.h"

G_BEGIN_DECLS

#define VMLEASE_TYPE_ACQUIRE_OPTIONS (vmlease_acquire_options_get_type ())
G_DECLARE_FINAL_TYPE (VmleaseAcquireOptions, vmlease_acquire_options, VMLEASE, ACQUIRE_OPTIONS, GObject)

VmleaseAcquireOptions *vmlease_acquire_options_new        (void);
void                   vmlease_acquire_options_set_pid    (VmleaseAcquireOptions *self,
                                                           guint                  pid);
guint                  vmlease_acquire_options_get_pid    (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_set_fence  (VmleaseAcquireOptions *self,
                                                           VmleaseFence           fence);
VmleaseFence           vmlease_acquire_options_get_fence  (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_set_mode   (VmleaseAcquireOptions *self,
                                                           VmleaseMode            mode);
VmleaseMode            vmlease_acquire_options_get_mode   (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_set_wait   (VmleaseAcquireOptions *self,
                                                           guint                  seconds);
guint                  vmlease_acquire_options_get_wait   (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_set_force  (VmleaseAcquireOptions *self,
                                                           gboolean               force);
gboolean               vmlease_acquire_options_get_force  (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_set_request (VmleaseAcquireOptions *self,
                                                            gboolean               request);
gboolean               vmlease_acquire_options_get_request (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_set_qmp    (VmleaseAcquireOptions *self,
                                                           const char            *qmp);
const char            *vmlease_acquire_options_get_qmp    (VmleaseAcquireOptions *self);
void                   vmlease_acquire_options_add_disk   (VmleaseAcquireOptions *self,
                                                           const char            *key,
                                                           VmleaseMode            mode);
GVariant              *vmlease_acquire_options_to_variant (VmleaseAcquireOptions *self);

G_END_DECLS
