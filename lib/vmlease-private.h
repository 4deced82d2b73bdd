/* vmlease-private.h: what the library's files share and do not export: the
 * bus names, disk lists, enum nicks, and how lease objects are made. */
#pragma once

#ifndef VMLEASE_COMPILATION
#define VMLEASE_COMPILATION
#endif
#include "vmlease.h"

G_BEGIN_DECLS

#define VMLEASE_BUS_NAME       "org.example.VMLease"
#define VMLEASE_MANAGER_PATH   "/org/example/VMLease"
#define VMLEASE_MANAGER_IFACE  "org.example.VMLease.Manager"
#define VMLEASE_LEASE_IFACE    "org.example.VMLease"

/* Calls that may wait on the service side (Acquire's and a Transfer step's
 * "wait", up to an hour) must not be cut by GDBus's 25 s default: the
 * service ends such a wait itself when the caller leaves the bus, and a
 * caller stops waiting with its GCancellable. */
#define VMLEASE_CALL_TIMEOUT_MS G_MAXINT

typedef struct {
  char *key;
  VmleaseMode mode;
} VmleaseDisk;

GArray      *_vmlease_disk_list_new        (void);
void         _vmlease_disk_list_add        (GArray *disks, const char *key, VmleaseMode mode);
GVariant    *_vmlease_disk_list_to_variant (GArray *disks);

const char  *_vmlease_enum_nick            (GType type, int value);
int          _vmlease_enum_from_nick       (GType type, const char *nick, int fallback);

void         _vmlease_error_tidy           (GError *error);

void         _vmlease_set_string           (GObject *object, char **field, const char *value,
                                            GParamSpec *pspec);

GVariant    *_vmlease_acquire_options_disks (VmleaseAcquireOptions *self);

VmleaseLease *_vmlease_lease_new_for_proxy (GDBusProxy *proxy);
void          _vmlease_lease_set_call_flags (VmleaseLease *self, GDBusCallFlags flags);
/* vmlease-lease.c's calls to the lease object, for vmlease-lease-calls.c.
 * _vmlease_lease_call takes @params (floating is fine) and returns the
 * call's task (transfer none; it lives until the reply). */
GTask        *_vmlease_lease_call        (VmleaseLease *self, const char *method,
                                          GVariant *params, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data,
                                          gpointer source_tag);
GVariant     *_vmlease_lease_call_finish (VmleaseLease *self, GAsyncResult *result,
                                          gpointer source_tag, GError **error);
GVariant     *_vmlease_lease_call_sync   (VmleaseLease *self, const char *method,
                                          GVariant *params, GCancellable *cancellable,
                                          GError **error);
/* A new holding: Lost before it no longer ends wait_lost_sync. */
void          _vmlease_lease_taken       (VmleaseLease *self);

G_END_DECLS
