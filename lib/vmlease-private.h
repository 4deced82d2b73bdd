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

G_END_DECLS
