/* vml-bench-bus.c: see vml-bench-bus.h. */
#include "vml-bench-bus.h"

GVariant *
vml_bench_bus_call (GDBusConnection *bus, const char *path, const char *iface,
                    const char *method, GVariant *params, const char *reply_type,
                    GError **error)
{
  return g_dbus_connection_call_sync (bus, BUS_NAME, path, iface, method, params,
                                      reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
}
