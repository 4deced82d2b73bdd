/* vmlease-transfer-options.h: VmleaseTransferOptions, the typed options of
 * the Transfer steps (fence target and disks at prepare, postcopy at
 * perform, failure at finish and confirm, wait at confirm and cancel). */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <glib-object.h>

#include "vmlease-enums.h"

G_BEGIN_DECLS

#define VMLEASE_TYPE_TRANSFER_OPTIONS (vmlease_transfer_options_get_type ())
G_DECLARE_FINAL_TYPE (VmleaseTransferOptions, vmlease_transfer_options, VMLEASE, TRANSFER_OPTIONS, GObject)

VmleaseTransferOptions *vmlease_transfer_options_new          (void);
void                    vmlease_transfer_options_set_pid      (VmleaseTransferOptions *self,
                                                               guint                   pid);
guint                   vmlease_transfer_options_get_pid      (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_fence    (VmleaseTransferOptions *self,
                                                               VmleaseFence            fence);
VmleaseFence            vmlease_transfer_options_get_fence    (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_postcopy (VmleaseTransferOptions *self,
                                                               gboolean                postcopy);
gboolean                vmlease_transfer_options_get_postcopy (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_failure  (VmleaseTransferOptions *self,
                                                               gboolean                failure);
gboolean                vmlease_transfer_options_get_failure  (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_wait     (VmleaseTransferOptions *self,
                                                               guint                   seconds);
guint                   vmlease_transfer_options_get_wait     (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_success  (VmleaseTransferOptions *self,
                                                               gboolean                success);
gboolean                vmlease_transfer_options_get_success  (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_qmp      (VmleaseTransferOptions *self,
                                                               const char             *qmp);
const char             *vmlease_transfer_options_get_qmp      (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_set_resume   (VmleaseTransferOptions *self,
                                                               gboolean                resume);
gboolean                vmlease_transfer_options_get_resume   (VmleaseTransferOptions *self);
void                    vmlease_transfer_options_add_disk     (VmleaseTransferOptions *self,
                                                               const char             *key,
                                                               VmleaseMode             mode);
GVariant               *vmlease_transfer_options_to_variant   (VmleaseTransferOptions *self,
                                                               VmleaseTransferStep     step,
                                                               GError                **error);

G_END_DECLS
