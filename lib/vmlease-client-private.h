/* vmlease-client-private.h: VmleaseClient's fields and the helpers its
 * files share (vmlease-client.c, vmlease-client-leases.c,
 * vmlease-client-lockspaces.c). */
#pragma once

#include "vmlease-client.h"
#include "vmlease-lease.h"

struct _VmleaseClient
{
  GObject parent_instance;

  char *address;                        /* NULL: the system bus */
  GDBusConnection *connection;
  GDBusObjectManager *object_manager;
  GDBusProxy *manager;
  GHashTable *leases;                   /* object path -> VmleaseLease */
  GDBusCallFlags call_flags;            /* of every call that changes state */
};

/* (transfer none): the lease of @proxy's path, made around @proxy if there
 * is none. */
VmleaseLease *_vmlease_client_lease_for_proxy (VmleaseClient *self, GDBusProxy *proxy);
/* (transfer none) (nullable): the lease of @path if known or followed. */
VmleaseLease *_vmlease_client_lease_for_path  (VmleaseClient *self, const char *path);

/* A manager method without an answer; takes @params. */
void      _vmlease_client_call        (VmleaseClient *self, const char *method, GVariant *params,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data, gpointer source_tag);
gboolean  _vmlease_client_call_finish (VmleaseClient *self, GAsyncResult *result,
                                       gpointer source_tag, GError **error);
gboolean  _vmlease_client_call_sync   (VmleaseClient *self, const char *method, GVariant *params,
                                       GCancellable *cancellable, GError **error);
