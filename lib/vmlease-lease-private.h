/* vmlease-lease-private.h: VmleaseLease's fields, shared by
 * vmlease-lease.c (the object, its properties and signals),
 * vmlease-lease-calls.c (its D-Bus methods) and vmlease-lease-wait.c
 * (waiting for lost). */
#pragma once

#include "vmlease-private.h"

G_BEGIN_DECLS

struct _VmleaseLease
{
  GObject parent_instance;

  GDBusProxy *proxy;
  GMainContext *context;        /* where the proxy's signals arrive */
  gboolean lost_pending;        /* lost emitted since the last take */
  GDBusCallFlags call_flags;    /* of calls that change state (not Inquire) */
};

G_END_DECLS
