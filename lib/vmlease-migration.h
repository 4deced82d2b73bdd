/* vmlease-migration.h: VmleaseMigration, the five-step lease hand-off of one
 * VM between two hosts, driven from one program that talks to both. */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <gio/gio.h>

#include "vmlease-client.h"
#include "vmlease-transfer-options.h"

G_BEGIN_DECLS

#define VMLEASE_TYPE_MIGRATION (vmlease_migration_get_type ())
G_DECLARE_FINAL_TYPE (VmleaseMigration, vmlease_migration, VMLEASE, MIGRATION, GObject)

VmleaseMigration    *vmlease_migration_new             (VmleaseClient          *source,
                                                        VmleaseClient          *destination,
                                                        const char             *uuid);
VmleaseClient       *vmlease_migration_get_source      (VmleaseMigration       *self);
VmleaseClient       *vmlease_migration_get_destination (VmleaseMigration       *self);
const char          *vmlease_migration_get_uuid        (VmleaseMigration       *self);
VmleaseTransferStep  vmlease_migration_get_step        (VmleaseMigration       *self);
const char          *vmlease_migration_get_token       (VmleaseMigration       *self);

void                 vmlease_migration_step            (VmleaseMigration       *self,
                                                        VmleaseTransferStep     step,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GAsyncReadyCallback     callback,
                                                        gpointer                user_data);
gboolean             vmlease_migration_step_finish     (VmleaseMigration       *self,
                                                        GAsyncResult           *result,
                                                        GError                **error);
gboolean             vmlease_migration_step_sync       (VmleaseMigration       *self,
                                                        VmleaseTransferStep     step,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GError                **error);

gboolean             vmlease_migration_begin_sync      (VmleaseMigration       *self,
                                                        GCancellable           *cancellable,
                                                        GError                **error);
gboolean             vmlease_migration_prepare_sync    (VmleaseMigration       *self,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GError                **error);
gboolean             vmlease_migration_perform_sync    (VmleaseMigration       *self,
                                                        gboolean                postcopy,
                                                        GCancellable           *cancellable,
                                                        GError                **error);
gboolean             vmlease_migration_finish_sync     (VmleaseMigration       *self,
                                                        gboolean                success,
                                                        GCancellable           *cancellable,
                                                        GError                **error);
gboolean             vmlease_migration_confirm_sync    (VmleaseMigration       *self,
                                                        gboolean                success,
                                                        GCancellable           *cancellable,
                                                        GError                **error);
gboolean             vmlease_migration_cancel_sync     (VmleaseMigration       *self,
                                                        GCancellable           *cancellable,
                                                        GError                **error);

void                 vmlease_migration_switchover      (VmleaseMigration       *self,
                                                        gboolean                postcopy,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GAsyncReadyCallback     callback,
                                                        gpointer                user_data);
gboolean             vmlease_migration_switchover_finish (VmleaseMigration     *self,
                                                        GAsyncResult           *result,
                                                        GError                **error);
gboolean             vmlease_migration_switchover_sync (VmleaseMigration       *self,
                                                        gboolean                postcopy,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GError                **error);
void                 vmlease_migration_run             (VmleaseMigration       *self,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GAsyncReadyCallback     callback,
                                                        gpointer                user_data);
gboolean             vmlease_migration_run_finish      (VmleaseMigration       *self,
                                                        GAsyncResult           *result,
                                                        GError                **error);
gboolean             vmlease_migration_run_sync        (VmleaseMigration       *self,
                                                        VmleaseTransferOptions *options,
                                                        GCancellable           *cancellable,
                                                        GError                **error);

G_END_DECLS
