/* vmlease-client.h: VmleaseClient, a connection to one host's vmleased: its
 * leases (found, created, deleted, followed as they come and go) and its
 * lockspaces. */
#pragma once

#if !defined (__VMLEASE_H_INSIDE__) && !defined (VMLEASE_COMPILATION)
#error "Only <vmlease.h> can be included directly."
#endif

#include <gio/gio.h>

#include "vmlease-lease.h"

G_BEGIN_DECLS

#define VMLEASE_TYPE_CLIENT (vmlease_client_get_type ())
G_DECLARE_FINAL_TYPE (VmleaseClient, vmlease_client, VMLEASE, CLIENT, GObject)

void           vmlease_client_new                    (GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
VmleaseClient *vmlease_client_new_finish             (GAsyncResult        *result,
                                                      GError             **error);
VmleaseClient *vmlease_client_new_sync               (GCancellable        *cancellable,
                                                      GError             **error);
void           vmlease_client_new_for_address        (const char          *address,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
VmleaseClient *vmlease_client_new_for_address_finish (GAsyncResult        *result,
                                                      GError             **error);
VmleaseClient *vmlease_client_new_for_address_sync   (const char          *address,
                                                      GCancellable        *cancellable,
                                                      GError             **error);

GDBusConnection *vmlease_client_get_connection       (VmleaseClient       *self);
const char    *vmlease_client_get_address            (VmleaseClient       *self);
const char    *vmlease_client_get_version            (VmleaseClient       *self);
const char    *vmlease_client_get_sanlock_daemon     (VmleaseClient       *self);
char          *vmlease_client_get_name_owner         (VmleaseClient       *self);
void           vmlease_client_set_allow_interactive_authorization (VmleaseClient *self,
                                                                   gboolean       allow);
gboolean       vmlease_client_get_allow_interactive_authorization (VmleaseClient *self);
GList         *vmlease_client_get_leases             (VmleaseClient       *self);
GPtrArray     *vmlease_client_get_lockspaces         (VmleaseClient       *self);
GVariant      *vmlease_client_dup_lockspace_details  (VmleaseClient       *self);

void           vmlease_client_add_lockspace          (VmleaseClient       *self,
                                                      const char          *name,
                                                      guint64              host_id,
                                                      const char          *path,
                                                      guint64              offset,
                                                      guint                io_timeout,
                                                      gboolean             init,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
gboolean       vmlease_client_add_lockspace_finish   (VmleaseClient       *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
gboolean       vmlease_client_add_lockspace_sync     (VmleaseClient       *self,
                                                      const char          *name,
                                                      guint64              host_id,
                                                      const char          *path,
                                                      guint64              offset,
                                                      guint                io_timeout,
                                                      gboolean             init,
                                                      GCancellable        *cancellable,
                                                      GError             **error);
void           vmlease_client_remove_lockspace       (VmleaseClient       *self,
                                                      const char          *name,
                                                      gboolean             force,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
gboolean       vmlease_client_remove_lockspace_finish (VmleaseClient      *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
gboolean       vmlease_client_remove_lockspace_sync  (VmleaseClient       *self,
                                                      const char          *name,
                                                      gboolean             force,
                                                      GCancellable        *cancellable,
                                                      GError             **error);

void           vmlease_client_get_lease              (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
VmleaseLease  *vmlease_client_get_lease_finish       (VmleaseClient       *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
VmleaseLease  *vmlease_client_get_lease_sync         (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      GCancellable        *cancellable,
                                                      GError             **error);

void           vmlease_client_create_lease           (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      const char          *lockspace,
                                                      const char          *name,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
VmleaseLease  *vmlease_client_create_lease_finish    (VmleaseClient       *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
VmleaseLease  *vmlease_client_create_lease_sync      (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      const char          *lockspace,
                                                      const char          *name,
                                                      GCancellable        *cancellable,
                                                      GError             **error);

void           vmlease_client_create_lease_full      (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      const char          *lockspace,
                                                      const char          *name,
                                                      const char          *path,
                                                      guint64              offset,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
VmleaseLease  *vmlease_client_create_lease_full_finish (VmleaseClient     *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
VmleaseLease  *vmlease_client_create_lease_full_sync (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      const char          *lockspace,
                                                      const char          *name,
                                                      const char          *path,
                                                      guint64              offset,
                                                      GCancellable        *cancellable,
                                                      GError             **error);
void           vmlease_client_delete_lease           (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
gboolean       vmlease_client_delete_lease_finish    (VmleaseClient       *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
gboolean       vmlease_client_delete_lease_sync      (VmleaseClient       *self,
                                                      const char          *uuid,
                                                      GCancellable        *cancellable,
                                                      GError             **error);

G_END_DECLS
