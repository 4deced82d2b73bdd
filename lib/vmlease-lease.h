/* vmlease-lease.h: VmleaseLease, one VM lease object of a host's vmleased:
 * its properties, its signals (lost, transfer-requested, warning) and its
 * methods (Acquire, Release, Inquire, AttachDisks, DetachDisks, Transfer). */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <gio/gio.h>

#include "vmlease-acquire-options.h"
#include "vmlease-enums.h"
#include "vmlease-transfer-options.h"

G_BEGIN_DECLS

#define VMLEASE_TYPE_LEASE (vmlease_lease_get_type ())
G_DECLARE_FINAL_TYPE (VmleaseLease, vmlease_lease, VMLEASE, LEASE, GObject)

const char  *vmlease_lease_get_object_path   (VmleaseLease *self);
const char  *vmlease_lease_get_uuid          (VmleaseLease *self);
const char  *vmlease_lease_get_name          (VmleaseLease *self);
const char  *vmlease_lease_get_lockspace     (VmleaseLease *self);
const char  *vmlease_lease_get_state         (VmleaseLease *self);
const char  *vmlease_lease_get_mode          (VmleaseLease *self);
guint64      vmlease_lease_get_owner         (VmleaseLease *self);
guint64      vmlease_lease_get_version       (VmleaseLease *self);
guint        vmlease_lease_get_holder_pid    (VmleaseLease *self);
guint        vmlease_lease_get_fence_pid     (VmleaseLease *self);
const char  *vmlease_lease_get_fence         (VmleaseLease *self);
const char  *vmlease_lease_get_transfer_step (VmleaseLease *self);
const char  *vmlease_lease_get_storage_state (VmleaseLease *self);
GVariant    *vmlease_lease_dup_disks         (VmleaseLease *self);

void         vmlease_lease_acquire           (VmleaseLease          *self,
                                              VmleaseAcquireOptions *options,
                                              GCancellable          *cancellable,
                                              GAsyncReadyCallback    callback,
                                              gpointer               user_data);
gboolean     vmlease_lease_acquire_finish    (VmleaseLease          *self,
                                              GAsyncResult          *result,
                                              GError               **error);
gboolean     vmlease_lease_acquire_sync      (VmleaseLease          *self,
                                              VmleaseAcquireOptions *options,
                                              GCancellable          *cancellable,
                                              GError               **error);

void         vmlease_lease_release           (VmleaseLease          *self,
                                              GCancellable          *cancellable,
                                              GAsyncReadyCallback    callback,
                                              gpointer               user_data);
gboolean     vmlease_lease_release_finish    (VmleaseLease          *self,
                                              GAsyncResult          *result,
                                              GError               **error);
gboolean     vmlease_lease_release_sync      (VmleaseLease          *self,
                                              GCancellable          *cancellable,
                                              GError               **error);

void         vmlease_lease_inquire           (VmleaseLease          *self,
                                              GCancellable          *cancellable,
                                              GAsyncReadyCallback    callback,
                                              gpointer               user_data);
GVariant    *vmlease_lease_inquire_finish    (VmleaseLease          *self,
                                              GAsyncResult          *result,
                                              GError               **error);
GVariant    *vmlease_lease_inquire_sync      (VmleaseLease          *self,
                                              GCancellable          *cancellable,
                                              GError               **error);

void         vmlease_lease_attach_disks      (VmleaseLease          *self,
                                              VmleaseAcquireOptions *options,
                                              GCancellable          *cancellable,
                                              GAsyncReadyCallback    callback,
                                              gpointer               user_data);
gboolean     vmlease_lease_attach_disks_finish (VmleaseLease        *self,
                                              GAsyncResult          *result,
                                              GError               **error);
gboolean     vmlease_lease_attach_disks_sync (VmleaseLease          *self,
                                              VmleaseAcquireOptions *options,
                                              GCancellable          *cancellable,
                                              GError               **error);

void         vmlease_lease_detach_disks      (VmleaseLease          *self,
                                              const char * const    *keys,
                                              GCancellable          *cancellable,
                                              GAsyncReadyCallback    callback,
                                              gpointer               user_data);
gboolean     vmlease_lease_detach_disks_finish (VmleaseLease        *self,
                                              GAsyncResult          *result,
                                              GError               **error);
gboolean     vmlease_lease_detach_disks_sync (VmleaseLease          *self,
                                              const char * const    *keys,
                                              GCancellable          *cancellable,
                                              GError               **error);

void         vmlease_lease_transfer          (VmleaseLease           *self,
                                              VmleaseTransferStep     step,
                                              const char             *token,
                                              VmleaseTransferOptions *options,
                                              GCancellable           *cancellable,
                                              GAsyncReadyCallback     callback,
                                              gpointer                user_data);
char        *vmlease_lease_transfer_finish   (VmleaseLease           *self,
                                              GAsyncResult           *result,
                                              GError                **error);
char        *vmlease_lease_transfer_sync     (VmleaseLease           *self,
                                              VmleaseTransferStep     step,
                                              const char             *token,
                                              VmleaseTransferOptions *options,
                                              GCancellable           *cancellable,
                                              GError                **error);

gboolean     vmlease_lease_wait_lost_sync    (VmleaseLease          *self,
                                              guint                  timeout_ms,
                                              GCancellable          *cancellable,
                                              GError               **error);

G_END_DECLS
